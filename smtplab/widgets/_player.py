"""The transcript player: a probe's conversation replayed line by line, explained.

:func:`player_frames` is the pure part: the frames (what the screen shows after each line) and
how long to wait before each, so tests check the pacing without sleeping. The widget only moves a
slider through those frames.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any, Final, overload

import ipywidgets as W

from smtplab.outcome_words import shown_outcome
from smtplab.widgets._close import shutting_down
from smtplab.widgets._html import ReopenNote, block_layout, theme_part
from smtplab.widgets._render import (
    as_record,
    close_parts,
    esc,
    message_html,
    outcome_badge,
)
from smtplab.widgets._transcript import RenderedTranscript, stage_style

__all__ = ["SPEEDS", "PlayerFrames", "TranscriptPlayer", "player_frames", "transcript_player"]

#: Speed choices of the player: label → speed. A number scales the recorded pace (2.0 plays
#: twice as fast); ``"instant"`` shows every line at once; ``"line"`` shows one line per second,
#: for reading aloud (a lab conversation lasts a few milliseconds at its recorded pace).
SPEEDS: Final[dict[str, float | str]] = {
    "1× (recorded pace)": 1.0,
    "2×": 2.0,
    "5×": 5.0,
    "instant": "instant",
    "1 line per second": "line",
}

#: The shortest step the Play widget takes, so a browser draws every frame.
MIN_STEP_MS: Final = 30


def _speed(speed: float | str) -> float | str:
    if isinstance(speed, str):
        word = speed.strip().lower().rstrip("x×")
        if word in ("instant", "line"):
            return word
        try:
            speed = float(word)
        except ValueError:
            raise ValueError(
                f"speed must be a number, 'instant' or 'line', not {speed!r}"
            ) from None
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0:
        raise ValueError(f"speed must be a positive number, 'instant' or 'line', not {speed!r}")
    return "instant" if math.isinf(speed) else float(speed)


class PlayerFrames(Sequence[tuple[float, str]]):
    """The frames of a replay, built when asked for: ``frames[k]`` is ``(delay_ms, html)``.

    Every line is rendered once, up front; a frame joins the rows it shows. So a transcript of
    ``n`` lines costs memory linear in ``n`` (not the ``n²/2`` rows of every frame at once).
    """

    def __init__(
        self,
        result: Any,
        speed: float | str = 1.0,
        *,
        transcript: RenderedTranscript | None = None,
    ) -> None:
        rec = as_record(result)
        s = _speed(speed)
        times = [
            float((x.to_dict() if hasattr(x, "to_dict") else x).get("t") or 0.0)
            for x in rec.get("transcript") or []
        ]
        self._delays = [0.0]
        previous = 0.0
        for t in times:
            if s == "instant":
                delay = 0.0
            elif s == "line":
                delay = 1000.0
            else:
                delay = round(max(0.0, t - previous) / float(s), 3)
            previous = t
            self._delays.append(delay)
        #: Every line rendered once (shared when only the speed changes).
        self.transcript = transcript if transcript is not None else RenderedTranscript(rec)

    def __len__(self) -> int:
        return len(self._delays)

    @overload
    def __getitem__(self, k: int) -> tuple[float, str]: ...

    @overload
    def __getitem__(self, k: slice) -> list[tuple[float, str]]: ...

    def __getitem__(self, k: int | slice) -> tuple[float, str] | list[tuple[float, str]]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(f"frame {k} of {len(self)}")
        return self.delay(k), self.transcript.html(k, highlight_last=k > 0)

    def delay(self, k: int) -> float:
        """How long to wait before frame ``k``, in milliseconds (no HTML built)."""
        return self._delays[k]


def player_frames(result: Any, speed: float | str = 1.0) -> PlayerFrames:
    """The frames of a transcript replay: a sequence of ``(delay_ms, html)``.

    Frame ``k`` shows the first ``k`` lines (frame 0: none yet) with an explanation beside each
    and the newest line highlighted; ``delay_ms`` is how long to wait after the previous frame
    before showing it: the recorded gap between the two lines divided by ``speed`` (0 for
    ``"instant"``, 1000 for ``"line"``). ``result`` is a ProbeResult or a record dict. Frames are
    built when read, so even a 10,000-line transcript takes memory linear in its lines.
    """
    return PlayerFrames(result, speed)


class TranscriptPlayer(ReopenNote, W.VBox):
    """The widget returned by :func:`transcript_player`; its parts are attributes.

    ``play`` (Play: ▶ steps through the frames), ``slider`` (IntSlider: the current line;
    set ``.value`` to jump), ``speed`` (Dropdown of :data:`SPEEDS`), ``screen`` (HTML: every
    line with its explanation, sent to the browser once), ``stage`` (a hidden HTML holding the
    style rule that shows the lines so far, the newest highlighted: all a step sends),
    ``header`` (HTML: host, port, outcome), ``frames`` (the current :func:`player_frames`:
    the HTML of each frame, for scripts).

    A step once re-sent every line so far: O(n²) bytes over a replay (1.6 GB for 2,500 lines);
    now the transcript crosses once and each step sends about 200 bytes.
    """

    def __init__(self, result: Any, speed: float | str = 1.0) -> None:
        self.record = as_record(result)
        n = len(self.record.get("transcript") or [])
        wanted = _speed(speed)
        label = next((k for k, v in SPEEDS.items() if v == wanted), None)
        if label is None:
            label = f"{wanted}×"
            options = {**SPEEDS, label: wanted}
        else:
            options = dict(SPEEDS)
        self.speed = W.Dropdown(options=list(options.items()), value=wanted, description="Speed")
        self.frames = player_frames(self.record, self.speed.value)
        self.play = W.Play(
            value=0,
            min=0,
            max=n,
            step=1,
            interval=MIN_STEP_MS,
            description="Play",
            show_repeat=False,
        )
        self.slider = W.IntSlider(
            value=0,
            min=0,
            max=n,
            step=1,
            description="Line",
            continuous_update=True,
            layout=W.Layout(width="420px"),
        )
        self._link = W.link((self.play, "value"), (self.slider, "value"))
        self._scope = f"smtplab-play-{uuid.uuid4().hex[:12]}"  # unique in a page of outputs
        self.screen = W.HTML(
            value=self.frames.transcript.stage_html(self._scope), layout=block_layout()
        )
        self.stage = W.HTML(value=self._style(0), layout=W.Layout(display="none"))
        rec = self.record
        total = rec.get("total_ms")
        self.header = W.HTML(
            f'<div style="font-size:16px;margin:2px 0"><b>{esc(rec.get("host"))}:'
            f"{esc(rec.get('port'))}</b> {outcome_badge(shown_outcome(rec))} "
            f"— {n} lines"
            + (
                f", {float(total):,.0f} ms in all"
                if isinstance(total, (int, float)) and not math.isnan(float(total))
                else ""
            )
            + "</div>"
        )
        self.slider.observe(self._on_step, names="value")
        self.play.observe(self._set_interval, names="playing")
        self.speed.observe(self._on_speed, names="value")
        self._set_interval()
        hint = W.HTML(
            message_html(
                "Press ▶ to replay the conversation, or drag the slider. C: lines are what the "
                "probe sent, S: lines what the server answered; the right column explains each.",
                "info",
            )
        )
        super().__init__(
            [
                self.header,
                hint,
                W.HBox([self.play, self.slider, self.speed], layout=W.Layout(flex_flow="row wrap")),
                self.stage,
                self.screen,
                theme_part(),
            ]
        )
        self.add_class("smtplab-transcript-player")
        self.add_class("smtplab-widget")

    def _style(self, k: int) -> str:
        return stage_style(self._scope, k, len(self.frames.transcript))

    @property
    def shown(self) -> int:
        """How many lines the screen shows now."""
        return max(0, min(int(self.slider.value), len(self.frames.transcript)))

    def _delay(self, k: int) -> float:
        if 0 < k < len(self.frames):
            return self.frames.delay(k)
        return 0.0

    def _set_interval(self, _change: Any = None) -> None:
        # The browser's Play schedules its next step as soon as it shows a frame, before this
        # kernel hears of it; so while playing, set the wait for the step after next.
        ahead = 2 if self.play.playing else 1
        self.play.interval = max(MIN_STEP_MS, round(self._delay(self.slider.value + ahead)))

    def _on_step(self, change: Any) -> None:
        self.stage.value = self._style(int(change["new"]))
        self._set_interval()

    def _on_speed(self, change: Any) -> None:
        self.frames = PlayerFrames(self.record, change["new"], transcript=self.frames.transcript)
        self._set_interval()

    def close(self) -> None:
        if shutting_down():
            return
        link = getattr(self, "_link", None)
        if link is not None:
            link.unlink()
        close_parts(self)
        super().close()


def transcript_player(result: Any, speed: float | str = 1.0) -> TranscriptPlayer:
    """A player that replays ``result``'s transcript line by line, explaining each line.

    ``result`` is a :class:`smtplab.ProbeResult` or a record dict (a row of a dataset).
    ``speed``: 1 (the recorded pace), 2, 5, ``"instant"`` or ``"line"`` (one line a second).
    Returned, not displayed; see :class:`TranscriptPlayer` for its parts.
    """
    return TranscriptPlayer(result, speed)
