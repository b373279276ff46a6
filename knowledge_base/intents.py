"""The 27 Bitext customer-support intents and their categories: the one list the knowledge base is checked against.

A snippet's ``intents`` must be names from :data:`INTENTS` (``load_knowledge_base``
rejects anything else unless ``known_intents=None`` is passed)::

    python -c "from knowledge_base.intents import INTENTS; print(len(INTENTS))"   # 27
"""
from __future__ import annotations

# Bitext category of each intent (as in the ``category`` column of the Bitext files).
CATEGORIES: dict[str, str] = {
    "cancel_order": "ORDER",
    "change_order": "ORDER",
    "place_order": "ORDER",
    "track_order": "ORDER",
    "change_shipping_address": "SHIPPING_ADDRESS",
    "set_up_shipping_address": "SHIPPING_ADDRESS",
    "check_cancellation_fee": "CANCELLATION_FEE",
    "check_invoice": "INVOICE",
    "get_invoice": "INVOICE",
    "check_payment_methods": "PAYMENT",
    "payment_issue": "PAYMENT",
    "check_refund_policy": "REFUND",
    "get_refund": "REFUND",
    "track_refund": "REFUND",
    "complaint": "FEEDBACK",
    "review": "FEEDBACK",
    "contact_customer_service": "CONTACT",
    "contact_human_agent": "CONTACT",
    "create_account": "ACCOUNT",
    "delete_account": "ACCOUNT",
    "edit_account": "ACCOUNT",
    "recover_password": "ACCOUNT",
    "registration_problems": "ACCOUNT",
    "switch_account": "ACCOUNT",
    "delivery_options": "DELIVERY",
    "delivery_period": "DELIVERY",
    "newsletter_subscription": "NEWSLETTER",
}

# The intents, sorted by name.
INTENTS: tuple[str, ...] = tuple(sorted(CATEGORIES))
