"""Each clause of the privacy policy (content/privacy.md: sections 1 to 11 and the six
bullets of section 7), the tests that would fail if its promise broke, and what the code
cannot show. tests/privacy/test_clauses.py checks that every clause is here and every
test named exists; docs/privacy.md shows this table (generated: `privacy-clauses`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clause:
    key: str  # "§7.2": section 7, its second bullet
    promise: str  # what the clause promises, in short
    tests: tuple[str, ...]  # "path/to/test_file.py::test_name"
    limits: str = ""  # what no test here can show
    gap: str = ""  # the promise is not kept yet: why (then `tests` is empty)


CLAUSES: tuple[Clause, ...] = (
    Clause(
        "§1",
        "We collect account, usage, device and billing details, and nothing else.",
        (
            "tests/privacy/test_policy.py::test_every_stored_column_is_a_kind_the_policy_names",
            "tests/test_browser_storage.py::test_everything_the_browser_stores_is_in_the_table",
            "tests/privacy/test_usage_metrics.py::test_usage_information_is_pages_features_and_vitals_never_who",
        ),
        "Usage details are pages, feature names and web vitals with a daily visitor hash; "
        "device details (IP, browser) reach only the server logs and the throttle.",
    ),
    Clause(
        "§2",
        "Data is used to run the service, sign in, process subscriptions.",
        (
            "tests/api/auth/test_sessions.py::test_list_and_revoke_sessions",
            "tests/api/billing/test_billing.py::test_checkout_grants_nothing_until_the_webhook_then_pro",
            "tests/privacy/test_usage_metrics.py::test_usage_information_is_pages_features_and_vitals_never_who",
            "tests/privacy/test_usage_metrics.py::test_service_performance_is_measured_as_the_75th_percentile",
        ),
        "Reliability beyond web vitals (uptime, errors) is the operator's monitoring.",
    ),
    Clause(
        "§3",
        "Only the services that run SoraStats (mail, payments) receive data.",
        (
            "tests/privacy/test_policy.py::test_only_mail_and_payments_talk_to_other_services",
            "tests/api/vault/test_vault_browser.py::test_vault_end_to_end",
        ),
        "Hosting and storage providers are chosen at deploy time.",
    ),
    Clause(
        "§4",
        "Cookies and browser storage only for sign-in, settings and measurement; listed.",
        (
            "tests/test_browser_storage.py::test_everything_the_browser_stores_is_in_the_table",
            "tests/test_browser_storage.py::test_the_cookies_page_shows_every_row",
            "tests/privacy/test_usage_metrics.py::test_service_performance_is_measured_as_the_75th_percentile",
            "tests/api/metrics/test_metrics_browser.py::test_a_page_view_and_web_vitals_arrive_and_are_counted",
        ),
        "Measurement needs no cookie or storage: the metrics script stores nothing.",
    ),
    Clause(
        "§5",
        "Data is kept only as long as needed: the periods of the retention table.",
        (
            "tests/api/test_retention.py::test_data_past_its_period_is_deleted_and_data_inside_it_stays",
            "tests/test_retention.py::test_quarantine_past_its_period_goes_at_the_next_ingest_run",
            "tests/test_retention.py::test_the_privacy_page_shows_the_table_and_no_marker",
        ),
        "Server logs are deleted by logrotate and journald once deploy/'s files are installed.",
    ),
    Clause(
        "§6",
        "Reasonable safeguards: security headers, sessions, CSRF, throttling.",
        (
            "tests/test_security_headers.py::test_every_api_response_carries_the_policy",
            "tests/api/auth/test_sessions.py::test_csrf_token_required_for_unsafe_methods",
        ),
    ),
    Clause(
        "§7",
        "SoraStats shows only the prompts of publicly available Sora videos.",
        (
            "tests/sorastats/test_import.py::test_non_public_posts_never_enter_and_leave_when_hidden",
            "tests/sorastats/test_import.py::test_tombstoned_post_is_purged_and_never_readded",
        ),
    ),
    Clause(
        "§7.1",
        "Prompts on creator pages come from public Sora metadata only.",
        (
            "tests/sorastats/test_import.py::test_non_public_posts_never_enter_and_leave_when_hidden",
        ),
    ),
    Clause(
        "§7.2",
        "Prompts you add stay private unless you explicitly publish them.",
        (
            "tests/api/vault/test_vault.py::test_another_users_ids_are_always_404",
            "tests/api/creators/test_creators.py::test_publishing_a_prompt_needs_the_verified_owner",
            "tests/api/creators/test_creators_browser.py::test_claim_capture_publish_build_hide_build",
        ),
        "A vault prompt becomes public only by its owner's \"Publish on my video's page\", for "
        "a video of a creator profile the account verifiably owns (docs/creators.md).",
    ),
    Clause(
        "§7.3",
        "Private prompts are encrypted in the browser (AES-256-GCM); the server stores ciphertext.",
        (
            "tests/api/vault/test_vault_browser.py::test_vault_end_to_end",
            "tests/api/vault/test_vault_crypto.py::test_envelope_vector",
        ),
    ),
    Clause(
        "§7.4",
        "Prompt data is not used to train AI models.",
        ("tests/privacy/test_policy.py::test_only_mail_and_payments_talk_to_other_services",),
        "A code test shows no prompt leaves for any other service; intent is a team promise.",
    ),
    Clause(
        "§7.5",
        "Prompt data is not sold nor shared with third parties.",
        (
            "tests/privacy/test_policy.py::test_only_mail_and_payments_talk_to_other_services",
            "tests/api/vault/test_vault_browser.py::test_vault_end_to_end",
        ),
    ),
    Clause(
        "§7.6",
        "Favorites, tags and versions follow the account's retention and deletion.",
        (
            "tests/api/vault/test_vault.py::test_export_holds_the_vault_and_deletion_removes_it",
            "tests/api/account/test_account.py::test_delete_account_leaves_no_trace",
        ),
    ),
    Clause(
        "§7.7",
        "Thumbnails and pictures are copies of public Sora images, removed when that ends.",
        (
            "tests/sorastats/test_media.py::test_a_post_that_leaves_loses_its_media_and_shared_content_stays",
            "tests/sorastats/test_media.py::test_a_banned_creator_or_one_back_to_the_default_picture_loses_it",
            "tests/sorastats/site/test_site_images.py::test_images_are_published_once_used_by_pages_and_purged_with_their_post",
        ),
    ),
    Clause(
        "§8",
        "Access, correction, deletion, restriction, portability, objection.",
        (
            "tests/api/account/test_account.py::test_export_contains_everything",
            "tests/api/account/test_rights_browser.py::test_every_profile_field_is_corrected_from_the_account_page",
            "tests/api/account/test_account.py::test_delete_account_leaves_no_trace",
            "tests/api/watchlist/test_watchlist.py::test_export_holds_the_watchlist_and_deletion_removes_it",
            "tests/api/account/test_restriction.py::test_every_other_signed_in_endpoint_is_refused",
            "tests/api/account/test_rights_browser.py::test_the_vault_is_exported_decrypted_in_the_browser",
            "tests/privacy/test_usage_metrics.py::test_an_objection_leaves_nothing",
            "tests/api/metrics/test_metrics_browser.py::test_nothing_is_sent_under_gpc_dnt_or_an_objection",
            "tests/api/creators/test_creators.py::test_hide_show_and_erase_a_creator_page",
            "tests/sorastats/test_contributions.py::test_erasure_purges_rows_and_archive_and_a_reimport_never_brings_them_back",
            "tests/sorastats/site/test_contributions_site.py::test_hide_publish_and_show_again",
            "tests/sorastats/site/test_opendata.py::test_hidden_erased_banned_and_deleted_never_appear",
            "tests/api/creators/test_creators.py::test_removal_requests_are_received_mailed_and_decided_by_the_operator",
        ),
        "Objection covers the usage metrics (the only processing not needed for the service). "
        "Creators hide or erase their page; anyone may ask for a removal (docs/creators.md).",
    ),
    Clause(
        "§9",
        "Processing in other countries is safeguarded.",
        ("tests/test_security_headers.py::test_pages_work_under_the_csp",),
        "Where servers run is a deploy choice; the code only shows pages load nothing from "
        "other origins.",
    ),
    Clause(
        "§10",
        "A change of the policy updates its Last updated date.",
        ("tests/privacy/test_policy.py::test_a_changed_policy_has_a_new_date",),
    ),
    Clause(
        "§11",
        "Privacy requests go to the Contact link of every page (and the account page).",
        (
            "tests/privacy/test_policy.py::test_every_page_links_to_the_contact_the_policy_names",
            "tests/privacy/test_policy.py::test_the_deployed_nightly_sets_a_contact",
            "tests/api/creators/test_creators_browser.py::test_claim_capture_publish_build_hide_build",
        ),
        "The operator sets the address with `--contact`; a build without it has no link.",
    ),
)
