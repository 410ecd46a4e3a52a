from celery import shared_task


@shared_task(name="ledgers.expire_idempotency_records")
def expire_idempotency_records_task() -> int:
    from ledgers.idempotency import idempotency_expire

    return idempotency_expire()
