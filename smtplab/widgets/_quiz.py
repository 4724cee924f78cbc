"""Self-check quizzes: multiple choice and short answer, with immediate feedback.

A question is a dict::

    {"question": "Which port is for submission with STARTTLS?",
     "options": ["25", "465", "587"], "answer": 2,          # index, or the option's text
     "explanation": "587 is the submission port (RFC 6409)."}

    {"question": "Which port did RFC 8314 register as 'submissions'?",
     "answer": ["465", "submissions"],                      # any of these; case and spaces ignored
     "explanation": "..."}

:func:`check_answer` is the pure part; the widget only collects answers and shows feedback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as W

from smtplab.widgets._html import BAD, GOOD, MUTED, ReopenNote, theme_part
from smtplab.widgets._render import close_parts, esc

__all__ = ["Quiz", "check_answer", "normalise_question", "quiz"]


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).casefold()


def normalise_question(q: Mapping[str, Any]) -> dict[str, Any]:
    """Check a question dict and return it with ``kind`` (``choice``/``short``) and ``accepted``.

    Raises ValueError naming what is wrong, so a notebook author sees the mistake at once.
    """
    if "question" not in q or "answer" not in q:
        raise ValueError(f"a quiz question needs 'question' and 'answer': {dict(q)!r}")
    out = dict(q)
    options = q.get("options")
    answer = q["answer"]
    if options:
        options = [str(o) for o in options]
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(options):
                raise ValueError(
                    f"answer index {answer} is outside the options of {q['question']!r}"
                )
            index = answer
        elif str(answer) in options:
            index = options.index(str(answer))
        else:
            raise ValueError(f"answer {answer!r} is not one of the options of {q['question']!r}")
        out.update(kind="choice", options=options, index=index, accepted=[options[index]])
    else:
        answers = answer if isinstance(answer, (list, tuple)) else [answer]
        if not answers:
            raise ValueError(f"question {q['question']!r} has no accepted answer")
        out.update(kind="short", accepted=[str(a) for a in answers])
    out.setdefault("explanation", "")
    return out


def check_answer(question: Mapping[str, Any], given: Any) -> bool:
    """True when ``given`` answers ``question`` (an option index or text; a short answer is
    compared ignoring case and extra spaces)."""
    q = question if "kind" in question else normalise_question(question)
    if given is None:
        return False
    if q["kind"] == "choice":
        if isinstance(given, int) and not isinstance(given, bool):
            return given == q["index"]
        return str(given) == q["options"][q["index"]]
    return _norm(given) in {_norm(a) for a in q["accepted"]}


def _feedback(ok: bool, q: Mapping[str, Any]) -> str:
    if ok:
        head = (
            f'<span style="color:{GOOD};font-weight:bold">'
            '<span aria-hidden="true">✓</span> Correct.</span>'
        )
    else:
        right = " or ".join(f"“{esc(a)}”" for a in q["accepted"])
        head = (
            f'<span style="color:{BAD};font-weight:bold">'
            f'<span aria-hidden="true">✗</span> Not quite.</span> The answer: {right}.'
        )
    expl = f" {esc(q['explanation'])}" if q.get("explanation") else ""
    colour = "#009E73" if ok else "#D55E00"
    return (
        f'<div style="font-size:15px;padding:4px 8px;border-left:6px solid {colour};'
        f'margin:2px 0">{head}{expl}</div>'
    )


class _Question(W.VBox):
    """One question: ``answer`` (RadioButtons or Text), ``check_button``, ``feedback`` (HTML)."""

    def __init__(self, number: int, q: dict[str, Any], on_checked: Any) -> None:
        self.spec = q
        self.correct: bool | None = None
        if q["kind"] == "choice":
            self.answer: W.ValueWidget = W.RadioButtons(
                options=q["options"], value=None, layout=W.Layout(width="auto")
            )
        else:
            self.answer = W.Text(placeholder="type your answer", layout=W.Layout(width="320px"))
        self.check_button = W.Button(
            # "primary", not "info": white on ipywidgets' info teal is 3.5:1, under WCAG AA
            description="Check",
            button_style="primary",
            layout=W.Layout(width="100px"),
        )
        self.feedback = W.HTML()
        self._on_checked = on_checked
        self.check_button.on_click(lambda _b: self.check())
        super().__init__(
            [
                W.HTML(
                    f'<div style="font-size:16px;margin-top:8px"><b>{number}.</b> '
                    f"{esc(q['question'])}</div>"
                ),
                self.answer,
                self.check_button,
                self.feedback,
            ]
        )

    def check(self) -> bool:
        given = self.answer.value
        if given is None or (isinstance(given, str) and not given.strip()):
            self.feedback.value = (
                f'<div style="font-size:15px;color:{MUTED}">Choose or type an answer first.</div>'
            )
            return False
        self.correct = check_answer(self.spec, given)
        self.feedback.value = _feedback(self.correct, self.spec)
        self._on_checked()
        return self.correct

    def close(self) -> None:
        close_parts(self)
        super().close()


class Quiz(ReopenNote, W.VBox):
    """The widget returned by :func:`quiz`.

    ``questions``: one box per question, each with ``answer`` (RadioButtons or Text; set
    ``.value``), ``check_button`` (click it), ``feedback`` (HTML: ✓/✗, the word and the
    explanation) and ``correct`` (None until checked). ``score_html`` (HTML) and ``score``
    (``(right, answered, total)``) follow every check.
    """

    def __init__(self, questions: Sequence[Mapping[str, Any]], *, title: str | None = None) -> None:
        specs = [normalise_question(q) for q in questions]
        if not specs:
            raise ValueError("a quiz needs at least one question")
        self.questions = [_Question(i, q, self._update_score) for i, q in enumerate(specs, 1)]
        self.score_html = W.HTML()
        self.score: tuple[int, int, int] = (0, 0, len(specs))
        header = (
            [W.HTML(f'<div style="font-size:19px;font-weight:bold">{esc(title)}</div>')]
            if title
            else []
        )
        super().__init__([*header, *self.questions, self.score_html, theme_part()])
        self.add_class("smtplab-quiz")
        self.add_class("smtplab-widget")
        self._update_score()

    def _update_score(self) -> None:
        answered = [q for q in self.questions if q.correct is not None]
        right = sum(1 for q in answered if q.correct)
        self.score = (right, len(answered), len(self.questions))
        self.score_html.value = (
            f'<div style="font-size:16px;margin-top:8px"><b>Score: {right} of '
            f"{len(self.questions)}</b> ({len(answered)} answered)</div>"
        )

    def close(self) -> None:
        close_parts(self)
        super().close()


def quiz(questions: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Quiz:
    """A self-check quiz. Returned, not displayed; see :class:`Quiz` and the module docstring."""
    return Quiz(questions, title=title)
