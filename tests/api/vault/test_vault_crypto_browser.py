# ruff: noqa: E501  (JavaScript snippets in strings read better unwrapped)
"""templates/static/js/vault-crypto.js in Debian's chromium: it reproduces every golden
vector exactly, Python opens what the browser seals and the other way round, and every
tampered or moved ciphertext fails. One shared browser (tests/conftest.py), one page for
most tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from playwright.sync_api import Browser, Page

from tests.support import vault_crypto as vc
from tests.support.browser import serve_files
from tests.support.make_vault_vectors import VECTORS_PATH
from tests.support.paths import ROOT

pytestmark = pytest.mark.browser

PAGE_DIR = ROOT / "tests" / "support" / "vault_page"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text("ascii"))
PROOF_IV = bytes(range(12))
JS = "text/javascript; charset=utf-8"


def proof(raw_key: str | bytes) -> str:
    """The envelope the harness's proof() makes with a key (see harness.js)."""
    key = bytes.fromhex(raw_key) if isinstance(raw_key, str) else raw_key
    return vc.seal(key, b"proof", "pv1|test|proof", PROOF_IV)


@dataclass
class Harness:
    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def call(self, name: str, *args: Any) -> Any:
        return self.page.evaluate(
            "([name, args]) => window.harness[name](...args)", [name, list(args)]
        )

    def run(self, function: str, arg: Any = None) -> Any:
        """Evaluate `async (arg) => ...` with `vc` and `harness` in scope."""
        return self.page.evaluate(
            f"async (arg) => {{ const vc = window.vc, harness = window.harness; "
            f"return await ({function})(arg); }}",
            arg,
        )

    def outcome(self, expression: str) -> dict[str, Any]:
        result: dict[str, Any] = self.run(f"() => harness.outcome(async () => {expression})")
        return result


@pytest.fixture(scope="session")
def vault_origin() -> Iterator[str]:
    routes = {
        "/": (PAGE_DIR / "index.html", "text/html; charset=utf-8"),
        "/harness.js": (PAGE_DIR / "harness.js", JS),
        "/static/js/vault-crypto.js": (ROOT / "templates/static/js/vault-crypto.js", JS),
    }
    with serve_files(routes) as origin:
        yield origin


def open_harness(chromium: Browser, origin: str) -> Iterator[Harness]:
    context = chromium.new_context()
    page = context.new_page()
    harness = Harness(page, origin)
    page.on("request", lambda request: harness.requests.append(request.url))
    page.on("pageerror", lambda error: harness.errors.append(str(error)))
    page.on(
        "console",
        lambda message: harness.errors.append(message.text) if message.type == "error" else None,
    )
    page.goto(origin + "/")
    page.wait_for_function("window.harnessReady === true", timeout=15_000)
    try:
        yield harness
    finally:
        context.close()


@pytest.fixture(scope="module")
def harness(chromium: Browser, vault_origin: str) -> Iterator[Harness]:
    yield from open_harness(chromium, vault_origin)


def by_name(group: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        "v", group, ids=[str(v.get("name", i)) for i, v in enumerate(group)]
    )


def test_page_is_a_secure_context_under_strict_csp_with_no_foreign_request(
    harness: Harness,
) -> None:
    assert harness.page.evaluate("window.isSecureContext") is True
    assert harness.run("async () => typeof vc.deriveKeys") == "function"
    assert harness.requests, "the page made no request at all?"
    assert all(url.startswith(harness.origin + "/") for url in harness.requests), harness.requests
    assert harness.errors == []


@by_name(VECTORS["derivation"])
def test_derivation_vector_in_browser(harness: Harness, v: dict[str, Any]) -> None:
    got = harness.call("derivation", v)
    assert got["master"] == v["master"]
    assert got["authKey"] == v["auth_key"]
    assert got["authKeyB64url"] == v["auth_key_b64url"]
    assert got["kekFromHkdf"] == v["kek"]
    assert got["kekCheck"] == v["kek_check"]["envelope"]
    assert got["kekExtractable"] is False
    assert got["kekExportable"] is False


@by_name(VECTORS["envelope"])
def test_envelope_vector_in_browser(harness: Harness, v: dict[str, Any]) -> None:
    got = harness.call("envelope", v)
    assert got == {"sealed": v["envelope"], "opened": v["plaintext"], "iv": v["iv"]}


@by_name(VECTORS["key_wrapping"])
def test_key_wrapping_vector_in_browser(harness: Harness, v: dict[str, Any]) -> None:
    got = harness.call("keyWrapping", v)
    assert got == {"sealed": v["envelope"], "proof": proof(v["key"]), "exportable": False}


def test_chain_vector_in_browser(harness: Harness) -> None:
    c = VECTORS["chain"]
    got = harness.call("chain", c)
    assert got["userKeyProof"] == proof(c["user_key"])
    assert got["itemKeyProof"] == proof(c["item_key"])
    assert got["fields"] == [f["text"] for f in c["fields"]]
    assert got["tag"] == c["tag"]["name"]


@by_name(VECTORS["recovery"])
def test_recovery_vector_in_browser(harness: Harness, v: dict[str, Any]) -> None:
    got = harness.call("recovery", v)
    assert got["code"] == v["code"]
    if "master" in v:
        assert got["canonical"] == v["canonical"]
        assert got["master"] == v["master"]
        assert got["authKey"] == v["auth_key"]
        assert got["userKeyProof"] == proof(v["user_key"])


def test_recovery_code_inputs_in_browser(harness: Harness) -> None:
    cases = VECTORS["recovery_code_inputs"]
    got = harness.run(
        "(inputs) => harness.outcomes(inputs, async (i) => vc.normalizeRecoveryCode(i))",
        [c["input"] for c in cases],
    )
    for case, result in zip(cases, got, strict=True):
        if "canonical" in case:
            assert result == {"ok": True, "value": case["canonical"]}, case
        else:
            assert result["code"] == "recovery-code", case
            assert ("32 characters" if case["error"] == "length" else "has no") in result["message"]


def test_b64url_table_in_browser(harness: Harness) -> None:
    table = VECTORS["b64url"]
    encoded = harness.run(
        "(hexes) => hexes.map((h) => vc.b64urlEncode(harness.unhex(h)))",
        [c["hex"] for c in table["valid"]],
    )
    assert encoded == [c["text"] for c in table["valid"]]
    decoded = harness.run(
        "(texts) => harness.outcomes(texts, async (t) => vc.b64urlDecode(t))",
        [c["text"] for c in table["valid"]] + table["invalid"],
    )
    valid = len(table["valid"])
    assert decoded[:valid] == [{"ok": True, "value": c["hex"]} for c in table["valid"]]
    assert [d["code"] for d in decoded[valid:]] == ["encoding"] * len(table["invalid"])


def test_malformed_envelopes_are_refused_in_browser(harness: Harness) -> None:
    cases = VECTORS["bad_envelopes"]
    got = harness.run(
        """async (envelopes) => {
            const key = await vc.importAesKey(new Uint8Array(32));
            return harness.outcomes(envelopes, (e) => vc.openEnvelope(key, e, "pv1|test"));
        }""",
        [c["envelope"] for c in cases],
    )
    assert [g["code"] for g in got] == [c["code"] for c in cases]
    assert any("unknown envelope prefix" in g["message"] for g in got)
    assert any("IV must be 96 bits" in g["message"] for g in got)


def test_tampered_or_moved_ciphertexts_fail_in_browser(harness: Harness) -> None:
    cases = VECTORS["tamper"]
    got = harness.call("tamper", cases)
    assert [(c["name"], g["ok"], g["code"]) for c, g in zip(cases, got, strict=True)] == [
        (c["name"], False, c["code"]) for c in cases
    ]


def test_browser_account_opens_in_python_and_survives_password_change_and_recovery(
    harness: Harness,
) -> None:
    user_id, prompt_id, tag_id = "u-browser", "p-1", "t-1"
    texts = [
        (1, "title", "Sakura 桜 🌸"),
        (1, "body", "petals over a river, slow pan"),
        (1, "notes", ""),
    ]
    request: dict[str, Any] = {
        "password": "browser pässword 🔐",
        "newPassword": "new pässword",
        "recoveredPassword": "after recovery",
        "userId": user_id,
        "promptId": prompt_id,
        "tagId": tag_id,
        "tagName": "春 spring",
        "iterations": 100_000,
        "fields": [{"version": ver, "field": f, "text": t} for ver, f, t in texts],
    }
    got = harness.call("createAccount", request)
    kdf = got["kdf"]
    assert kdf["name"] == "pbkdf2-sha256" and kdf["iterations"] == 100_000
    salt = vc.unb64url(kdf["salt"])
    assert len(salt) == 16
    auth_key, kek = vc.derive_keys(request["password"], salt, 100_000)
    assert vc.b64url(auth_key) == got["authKey"]
    user_key = vc.unwrap_user_key(kek, got["wrappedUserKey"], user_id)
    item_key = vc.unwrap_item_key(user_key, got["wrappedItemKey"], user_id, prompt_id)
    for (version, name, text), envelope in zip(texts, got["fields"], strict=True):
        assert vc.decrypt_field(item_key, envelope, user_id, prompt_id, version, name) == text
    assert vc.decrypt_tag_name(user_key, got["tag"], user_id, tag_id) == "春 spring"
    assert got["userKeyExportable"] is False and got["itemKeyExportable"] is False

    # The recovery code shown once unlocks the same user key through the second wrapping.
    recovery_master = vc.derive_recovery_master(got["recoveryCode"])
    assert vc.b64url(vc.derive_auth_key(recovery_master)) == got["recoveryAuthKey"]
    recovery_kek = vc.derive_kek(recovery_master)
    assert vc.unwrap_user_key(recovery_kek, got["recoveryWrappedUserKey"], user_id) == user_key

    # Password change and recovery re-wrap the same user key: every prompt stays readable.
    for step, password in [("changed", "newPassword"), ("recovered", "recoveredPassword")]:
        new = got[step]
        new_salt = vc.unb64url(new["kdf"]["salt"])
        assert new_salt != salt
        new_auth, new_kek = vc.derive_keys(request[password], new_salt, 100_000)
        assert vc.b64url(new_auth) == new["authKey"] != got["authKey"]
        assert vc.unwrap_user_key(new_kek, new["wrappedUserKey"], user_id) == user_key
        with pytest.raises(InvalidTag):
            vc.unwrap_user_key(kek, new["wrappedUserKey"], user_id)
    assert got["recovered"]["recoveryAuthKey"] == got["recoveryAuthKey"]

    # Browser-made envelopes tampered in Python fail too.
    iv, sealed = vc.parse_envelope(got["fields"][1])
    ad = vc.ad_field(user_id, prompt_id, 1, "body")
    for bad_iv, bad_sealed in [
        (bytes([iv[0] ^ 1]) + iv[1:], sealed),
        (iv, sealed[:-1] + bytes([sealed[-1] ^ 1])),
    ]:
        with pytest.raises(InvalidTag):
            vc.open_envelope(item_key, f"pv1.{vc.b64url(bad_iv)}.{vc.b64url(bad_sealed)}", ad)
    with pytest.raises(InvalidTag):
        vc.open_envelope(item_key, got["fields"][1], vc.ad_field(user_id, prompt_id, 2, "body"))


def test_python_account_opens_in_browser(harness: Harness) -> None:
    user_id, prompt_id, tag_id = "u-python", "p-9", "t-9"
    password, salt, iterations = "python пароль ☂", vc.generate_key()[:16], 100_000
    auth_key, kek = vc.derive_keys(password, salt, iterations)
    user_key, item_key = vc.generate_key(), vc.generate_key()
    texts = [(3, "title", "雨の日"), (3, "body", "x" * 20_000 + " 🌧"), (3, "notes", "")]
    fields = [
        {
            "version": ver,
            "field": f,
            "envelope": vc.encrypt_field(item_key, user_id, prompt_id, ver, f, t),
        }
        for ver, f, t in texts
    ]
    got = harness.call(
        "openAccount",
        {
            "password": password,
            "kdf": {"name": "pbkdf2-sha256", "iterations": iterations, "salt": vc.b64url(salt)},
            "userId": user_id,
            "promptId": prompt_id,
            "tagId": tag_id,
            "wrappedUserKey": vc.wrap_user_key(kek, user_key, user_id),
            "wrappedItemKey": vc.wrap_item_key(user_key, item_key, user_id, prompt_id),
            "fields": fields,
            "tag": vc.encrypt_tag_name(user_key, user_id, tag_id, "🌧 rain"),
        },
    )
    assert got == {
        "authKey": vc.b64url(auth_key),
        "fields": [t for _, _, t in texts],
        "tag": "🌧 rain",
    }


def test_wrong_password_never_unlocks_in_browser(harness: Harness) -> None:
    c = VECTORS["chain"]
    got = harness.outcome(
        f"""(async () => {{
            const {{ kek }} = await vc.deriveKeys({json.dumps(c["password"] + " ")},
                vc.b64urlDecode({json.dumps(c["salt_b64url"])}), {c["iterations"]});
            return vc.unwrapUserKey(kek, {json.dumps(c["wrapped_user_key"])}, {json.dumps(c["user_id"])});
        }})()"""
    )
    assert got["ok"] is False and got["code"] == "decrypt"


def test_every_seal_uses_a_fresh_iv_in_browser(harness: Harness) -> None:
    ivs = harness.run(
        """async () => {
            const key = await vc.importAesKey(vc.randomBytes(32));
            const envelopes = [];
            for (let i = 0; i < 200; i++) envelopes.push(await vc.seal(key, new Uint8Array(1), "pv1|test"));
            return envelopes.map((e) => e.split(".")[1]);
        }"""
    )
    assert len(set(ivs)) == 200
    assert all(len(vc.unb64url(iv)) == 12 for iv in ivs)


SALT_16 = vc.b64url(bytes(16))


@pytest.mark.parametrize(
    ("expression", "code", "message"),
    [
        (
            f'vc.deriveLoginKeys("pw", {{name: "pbkdf2-sha256", iterations: 1000, salt: "{SALT_16}"}})',
            "argument",
            "iterations",
        ),
        (
            f'vc.deriveLoginKeys("pw", {{name: "pbkdf2-sha256", iterations: 1e9, salt: "{SALT_16}"}})',
            "argument",
            "iterations",
        ),
        (
            f'vc.deriveLoginKeys("pw", {{name: "argon2id", iterations: 600000, salt: "{SALT_16}"}})',
            "argument",
            "key derivation",
        ),
        (
            'vc.deriveLoginKeys("pw", {name: "pbkdf2-sha256", iterations: 600000, salt: "AAAA"})',
            "argument",
            "salt",
        ),
        (
            'vc.deriveLoginKeys("pw", {name: "pbkdf2-sha256", iterations: 600000, salt: "AA=="})',
            "encoding",
            "base64url",
        ),
        ("vc.deriveKeys('', new Uint8Array(16), 1)", "argument", "password"),
        ("vc.deriveKeys('pw', new Uint8Array(16), 0)", "argument", "iterations"),
        ("vc.deriveKeys('pw', new Uint8Array(16), 1.5)", "argument", "iterations"),
        ("vc.deriveKeys('\\ud800', new Uint8Array(16), 1)", "argument", "well-formed"),
        ("vc.deriveKeys('pw', 'salt', 1)", "argument", "salt"),
        ("vc.newPasswordKeys('pw', 10)", "argument", "iterations"),
        ("vc.adUserKey('a|p:b')", "argument", "user id"),
        ("vc.adUserKey('x'.repeat(65))", "argument", "user id"),
        ("vc.adItemKey('u1', '')", "argument", "prompt id"),
        ("vc.adTag('u1', 't:1')", "argument", "tag id"),
        ("vc.adField('u1', 'p1', 0, 'body')", "argument", "version"),
        ("vc.adField('u1', 'p1', '1', 'body')", "argument", "version"),
        ("vc.adField('u1', 'p1', 1, 'summary')", "argument", "field"),
        ("vc.importAesKey(new Uint8Array(16))", "argument", "32 bytes"),
        ("vc.seal('not a key', new Uint8Array(1), 'pv1|test')", "argument", "CryptoKey"),
        (
            "vc.importAesKey(new Uint8Array(32)).then((k) => vc.encryptField(k, {userId: 'u', promptId: 'p', version: 1, field: 'body'}, 'a\\udc00b'))",
            "argument",
            "well-formed",
        ),
        ("vc.createAccountKeys('pw', 'bad|id', 100000)", "argument", "user id"),
        ("vc.recoveryCodeFromBytes(new Uint8Array(16))", "argument", "160 bits"),
    ],
)
def test_bad_arguments_get_clear_errors_in_browser(
    harness: Harness, expression: str, code: str, message: str
) -> None:
    got = harness.outcome(expression)
    assert got["ok"] is False
    assert got["code"] == code
    assert message in got["message"]


def test_wrapped_key_of_the_wrong_size_is_refused_in_browser(harness: Harness) -> None:
    kek = vc.generate_key()
    short = vc.seal(kek, bytes(16), vc.ad_user_key("u1"))
    got = harness.outcome(
        f"vc.importAesKey(harness.unhex('{kek.hex()}')).then((k) => vc.unwrapUserKey(k, '{short}', 'u1'))"
    )
    assert got["ok"] is False and "256 bits" in got["message"]


def test_non_extractable_user_key_survives_a_reload_in_indexeddb(
    chromium: Browser, vault_origin: str
) -> None:
    c = VECTORS["chain"]
    for harness in open_harness(chromium, vault_origin):
        harness.call("storeUserKey", c)
        harness.page.reload()
        harness.page.wait_for_function("window.harnessReady === true")
        got = harness.call("loadUserKey", c)
        assert got == {
            "isCryptoKey": True,
            "extractable": False,
            "exportable": False,
            "tag": c["tag"]["name"],
        }
        assert harness.errors == []


def test_associated_data_is_built_exactly_as_in_python(harness: Harness) -> None:
    calls = [
        ("adUserKey", ["U7f3a"], vc.ad_user_key("U7f3a")),
        ("adItemKey", ["U7f3a", "P-19c"], vc.ad_item_key("U7f3a", "P-19c")),
        ("adField", ["U7f3a", "P-19c", 12, "notes"], vc.ad_field("U7f3a", "P-19c", 12, "notes")),
        ("adTag", ["u_1", "T_4"], vc.ad_tag("u_1", "T_4")),
    ]
    got = harness.run(
        "(calls) => calls.map(([name, args]) => vc[name](...args))", [c[:2] for c in calls]
    )
    assert got == [c[2] for c in calls]


def test_moved_ciphertexts_fail_through_the_browser_api(harness: Harness) -> None:
    """Each id swapped through decryptField/decryptTagName/unwrap*, not raw AD strings."""
    c = VECTORS["chain"]
    body = next(f for f in c["fields"] if f["version"] == 2 and f["field"] == "body")
    got = harness.run(
        """async ({c, body}) => {
            const { kek } = await vc.deriveKeys(c.password, vc.b64urlDecode(c.salt_b64url), c.iterations);
            const userKey = await vc.unwrapUserKey(kek, c.wrapped_user_key, c.user_id);
            const place = { userId: c.user_id, promptId: c.prompt_id };
            const itemKey = await vc.unwrapItemKey(userKey, c.wrapped_item_key, place);
            const at = { ...place, version: 2, field: "body" };
            const tag = { userId: c.user_id, tagId: c.tag.tag_id };
            const attempts = {
                baseline: () => vc.decryptField(itemKey, body.envelope, at),
                user: () => vc.decryptField(itemKey, body.envelope, { ...at, userId: "U7f3b" }),
                prompt: () => vc.decryptField(itemKey, body.envelope, { ...at, promptId: "P-19d" }),
                version: () => vc.decryptField(itemKey, body.envelope, { ...at, version: 1 }),
                field: () => vc.decryptField(itemKey, body.envelope, { ...at, field: "title" }),
                wrongKey: () => vc.decryptField(userKey, body.envelope, at),
                tagId: () => vc.decryptTagName(userKey, c.tag.envelope, { ...tag, tagId: "T_5" }),
                tagUser: () => vc.decryptTagName(userKey, c.tag.envelope, { ...tag, userId: "x" }),
                itemKeyPrompt: () => vc.unwrapItemKey(userKey, c.wrapped_item_key, { ...place, promptId: "P-19d" }),
                userKeyUser: () => vc.unwrapUserKey(kek, c.wrapped_user_key, "U7f3b"),
                fieldAsTag: () => vc.decryptTagName(itemKey, body.envelope, tag),
            };
            const out = {};
            for (const [name, run] of Object.entries(attempts)) out[name] = await harness.outcome(run);
            return out;
        }""",
        {"c": c, "body": body},
    )
    assert got.pop("baseline") == {"ok": True, "value": body["text"]}
    assert {name: (r["ok"], r["code"]) for name, r in got.items()} == {
        name: (False, "decrypt") for name in got
    }
    assert len(got) == 10


def test_lone_surrogates_are_refused_without_string_is_well_formed(harness: Harness) -> None:
    """Older browsers lack String#isWellFormed; the module's fallback must refuse the same."""
    got = harness.run(
        """async () => {
            const original = String.prototype.isWellFormed;
            delete String.prototype.isWellFormed;
            try {
                const key = await vc.importAesKey(new Uint8Array(32));
                const at = { userId: "u", promptId: "p", version: 1, field: "body" };
                const missing = typeof String.prototype.isWellFormed === "undefined";
                const results = await harness.outcomes(["a\\ud800b", "\\udc00", "ok 🔑"], (t) => vc.encryptField(key, at, t).then(() => "sealed"));
                return { missing, results };
            } finally {
                String.prototype.isWellFormed = original;
            }
        }"""
    )
    assert got["missing"] is True
    assert [(g["ok"], g.get("code")) for g in got["results"]] == [
        (False, "argument"),
        (False, "argument"),
        (True, None),
    ]
    assert harness.run("async () => typeof String.prototype.isWellFormed") == "function"
