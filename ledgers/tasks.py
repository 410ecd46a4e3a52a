from celery import shared_task


@shared_task(name="ledgers.expire_idempotency_records")
def expire_idempotency_records_task() -> int:
    from ledgers.idempotency import idempotency_expire

    return idempotency_expire()


@shared_task(name="ledgers.purge_api_tokens_and_login_counters")
def purge_api_tokens_and_login_counters_task() -> int:
    from ledgers.login_throttle import login_throttle_expire
    from ledgers.tokens import api_token_purge

    return api_token_purge() + login_throttle_expire()
