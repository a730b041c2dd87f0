"""Subscriptions through Stripe: settings, pure rules, the gateway, entitlement and
limit checks, the webhook."""
