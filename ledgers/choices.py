from django.db import models


class MembershipRole(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Admin"


ROLE_RANK: dict[str, int] = {
    MembershipRole.VIEWER: 1,
    MembershipRole.REVIEWER: 2,
    MembershipRole.ADMIN: 3,
}


class ReconciliationStatus(models.TextChoices):
    UNRECONCILED = "unreconciled", "Unreconciled"
    RECONCILED = "reconciled", "Reconciled"
    PARTIAL = "partial", "Partial"


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class LoginThrottleScope(models.TextChoices):
    USERNAME = "username", "Username"
    ADDRESS = "address", "Client address"
