"""The form frame every modal shares: title, fields, progress, OK/Cancel, and the one place
where a core refusal (StepuiError) becomes a notification."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Input, Label, ProgressBar

from stepui.authority.service import Authority
from stepui.errors import StepuiError
from stepui.screens.base import OnWorkbench


class CoreValidator(Validator):
    """Inline validation with the core's own parser, so the form and the Authority agree:
    ``parse`` raises BadInput with the message shown under the field."""

    def __init__(
        self, parse: Callable[[str], Any], *, split: bool = False, optional: bool = True
    ) -> None:
        super().__init__()
        self.parse, self.split, self.optional = parse, split, optional

    def validate(self, value: str) -> ValidationResult:
        items = value.replace(",", " ").split() if self.split else [value.strip()]
        items = [item for item in items if item]
        if not items:
            return self.success() if self.optional else self.failure("required")
        for item in items:
            try:
                self.parse(item)
            except StepuiError as exc:
                return self.failure(exc.message)
        return self.success()


def ca_options(authority: Authority, *, signing: bool = True) -> list[tuple[str, str]]:
    """(label, id) of the CAs, by default only those that can sign here (have a key)."""
    return [
        (f"{ca.name} ({ca.kind})", ca.id)
        for ca in authority.authorities()
        if ca.status == "active" and (ca.key_file or not signing)
    ]


def field(label: str, widget: Widget, hint: str = "") -> Iterable[Widget]:
    """A labelled field, with a line under it for inline errors (id ``<widget id>-error``)."""
    yield Label(label, classes="field-label")
    yield widget
    yield Label(hint, id=f"{widget.id}-error", classes="field-error")


class FormScreen(OnWorkbench, ModalScreen[Any]):
    """Subclasses give TITLE, ``fields()``, ``perform()`` (runs in a thread, calls the
    Authority) and ``success()`` (the notification text)."""

    TITLE: ClassVar[str] = ""
    SUBMIT: ClassVar[str] = "OK"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close without changes"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit", tooltip="Run the action"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="form"):
            yield Label(self.TITLE, classes="form-title")
            with VerticalScroll(classes="form-body"):
                yield from self.fields()
            yield ProgressBar(id="progress", show_eta=False)
            with Horizontal(classes="form-buttons"):
                yield Button(self.SUBMIT, variant="primary", id="submit")
                yield Button("Cancel", id="cancel")

    def fields(self) -> Iterable[Widget]:
        raise NotImplementedError

    def perform(self) -> Any:
        raise NotImplementedError

    def success(self, result: Any) -> str:
        return "done"

    def on_mount(self) -> None:
        self.query_one("#progress").display = False

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_validation(event.input, event.validation_result)

    def _show_validation(self, widget: Input, result: ValidationResult | None) -> None:
        errors = self.query(f"#{widget.id}-error")
        if widget.id and errors:
            message = "" if result is None or result.is_valid else result.failure_descriptions[0]
            errors.first(Label).update(message)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        elif event.button.id == "cancel":
            self.action_cancel()

    @property
    def busy(self) -> bool:
        """The action runs in its thread (the submit button is disabled exactly then): a second
        enter or ctrl+s must not run it twice, and escape must not hide what it does."""
        return self.query_one("#submit", Button).disabled

    def action_cancel(self) -> None:
        if self.busy:
            self.notify("still working: the result shows here when done", severity="warning")
            return
        self.dismiss(None)

    def action_submit(self) -> None:
        if self.busy:
            return
        invalid = [
            i for i in self.query(Input) if i.validators and not i.validate(i.value).is_valid
        ]
        for widget in invalid:
            self._show_validation(widget, widget.validate(widget.value))
        if invalid:
            invalid[0].focus()
            self.notify("fix the marked fields first", severity="warning")
            return
        self.query_one("#submit", Button).disabled = True
        self._run()

    @work(thread=True, exclusive=True, group="form")
    def _run(self) -> None:
        try:
            result = self.perform()
        except (StepuiError, OSError) as exc:
            self.app.call_from_thread(self._refused, exc)
        else:
            self.app.call_from_thread(self._succeeded, result)

    def progress(self, done: int, total: int) -> None:
        """Called from the worker thread during bulk work."""

        def show() -> None:
            bar = self.query_one("#progress", ProgressBar)
            bar.display = total > 1
            bar.update(total=total, progress=done)

        self.app.call_from_thread(show)

    def _refused(self, error: StepuiError | OSError) -> None:
        self.query_one("#submit", Button).disabled = False
        message = error.message if isinstance(error, StepuiError) else str(error)
        self.notify(message, title="Refused", severity="error", timeout=8)

    def _succeeded(self, result: Any) -> None:
        self.notify(self.success(result), title=self.TITLE)
        self.dismiss(result)
