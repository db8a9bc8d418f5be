"""/api/v1/webhooks: register, list and remove endpoints; read deliveries and replay them."""

from __future__ import annotations

from subscribers.admin import actions, webhooks
from subscribers.api import schemas as s
from subscribers.api.core import Answer, Call, operation
from subscribers.api.v1_lists import record
from subscribers.core.models import WebhookEndpoint
from subscribers.web.context import db, runtime


def webhook_out(endpoint: WebhookEndpoint) -> s.WebhookOut:
    return s.WebhookOut(
        id=endpoint.id or 0,
        url=endpoint.url,
        events=webhooks.event_list(endpoint),
        created_at=endpoint.created_at,
        created_by=endpoint.created_by,
    )


@operation(
    "GET", "/webhooks", summary="Registered webhooks", role="admin", tag="webhooks",
    response=s.WebhookList,
)  # fmt: skip
def webhooks_index(call: Call) -> s.WebhookList:
    return s.WebhookList(items=[webhook_out(e) for e in webhooks.endpoints(db())])


@operation(
    "POST", "/webhooks", role="admin", tag="webhooks", body=s.WebhookCreate,
    response=s.WebhookCreated, status=201, errors=(422,),
    summary="Register a URL for events; the answer holds its signing secret, shown once",
)  # fmt: skip
def webhooks_create(call: Call) -> s.WebhookCreated:
    rt = runtime()
    endpoint, secret = webhooks.add(
        db(),
        call.body.url,
        call.body.events,
        now=rt.clock(),
        allow_private=rt.settings.webhook_allow_private,
        created_by=call.actor,
    )
    record(call, actions.webhook_added(endpoint))
    return s.WebhookCreated(**webhook_out(endpoint).model_dump(), secret=secret)


@operation(
    "DELETE", "/webhooks/<int:webhook_id>", role="admin", tag="webhooks", status=204,
    errors=(404,), summary="Stop sending to a webhook (what waits for it is dropped)",
)  # fmt: skip
def webhooks_remove(call: Call, webhook_id: int) -> Answer:
    endpoint = webhooks.remove(db(), webhook_id, now=runtime().clock())
    record(call, actions.webhook_removed(endpoint))
    return Answer(status=204)


@operation(
    "GET", "/webhooks/<int:webhook_id>/deliveries", role="admin", tag="webhooks",
    response=s.WebhookDeliveryList, errors=(404,),
    summary="The latest deliveries to a webhook, with their attempts",
)  # fmt: skip
def webhooks_deliveries(call: Call, webhook_id: int) -> s.WebhookDeliveryList:
    webhooks.get(db(), webhook_id)
    rows = webhooks.deliveries(db(), endpoint_id=webhook_id)
    tries = webhooks.attempts(db(), [d.id for d, _ in rows if d.id is not None])
    return s.WebhookDeliveryList(
        items=[
            s.WebhookDeliveryOut(
                id=d.id or 0,
                webhook_id=m.msg_id,
                event=m.event,
                state=d.state,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at if d.state == "queued" else None,
                last_code=d.last_code,
                last_error=d.last_error,
                delivered_at=d.delivered_at,
                tries=[
                    s.WebhookAttemptOut(at=a.at, code=a.code, error=a.error, ms=a.duration_ms)
                    for a in tries.get(d.id or 0, [])
                ],
            )
            for d, m in rows
        ]
    )


@operation(
    "POST", "/webhook-deliveries/<int:delivery_id>/replay", role="admin", tag="webhooks",
    response=s.Done, errors=(404, 409), summary="Send a delivery again (same webhook-id)",
)  # fmt: skip
def webhooks_replay(call: Call, delivery_id: int) -> s.Done:
    webhooks.replay(db(), delivery_id, now=runtime().clock())
    record(call, actions.webhook_replayed(delivery_id))
    return s.Done(done="queued again")
