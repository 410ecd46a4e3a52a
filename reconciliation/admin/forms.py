"""Forms of the reconciliation admin screens: upload, close items, close run, review.

Plain forms: they only validate input; the views hand the cleaned values to the services.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from reconciliation.choices import CloseReason, SourceFileFormat


class StatementUploadForm(forms.Form):
    file = forms.FileField(label="Statement file")
    format = forms.ChoiceField(
        label="Format",
        required=False,
        choices=[("", "Detect from content"), *SourceFileFormat.choices],
    )
    allow_duplicate = forms.BooleanField(
        label="Import even if this exact file was imported before",
        required=False,
    )
    mapping = forms.CharField(
        label="CSV column mapping (JSON, optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text='e.g. {"booking_date": "Date", "amount": "Amount"}; saved for the account.',
    )

    def clean_mapping(self) -> dict[str, Any] | None:
        text = self.cleaned_data["mapping"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The mapping must be a JSON object.")
        return value


class CloseItemsForm(forms.Form):
    reason = forms.ChoiceField(
        label="Reason", choices=[("", "Choose a reason…"), *CloseReason.choices]
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class CloseRunForm(forms.Form):
    reason = forms.CharField(
        label="Reason for closing although the report does not balance",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def __init__(self, *args: Any, balanced: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An unbalanced report needs a reason (the service refuses without one, too).
        self.fields["reason"].required = not balanced


class ApproveRunForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")])
    note = forms.CharField(required=False, max_length=10_000)
