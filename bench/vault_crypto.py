# ruff: noqa: E501  (the JavaScript snippet reads better unwrapped)
"""How long the vault's cryptography takes, in Python and in Debian's chromium: key
derivation at the default 600,000 PBKDF2 iterations (sign-in cost), registration (password
plus recovery code), and decrypting a whole vault of N prompts (3 fields each, one item key
per prompt) as the vault page does on load. Prints its figures; run by hand:

    .venv/bin/python -m bench.vault_crypto --prompts 500 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from tests.support import vault_crypto as vc
from tests.support.browser import launch_chromium, serve_files

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "tests" / "support" / "vault_page"
JS = "text/javascript; charset=utf-8"

BROWSER_BENCH = """async ({rounds, iterations, vault}) => {
    const vc = window.vc, ms = [], reg = [];
    const salt = new Uint8Array(16);
    for (let i = 0; i < rounds; i++) {
        let t = performance.now();
        await vc.deriveKeys("benchmark password", salt, iterations);
        ms.push(performance.now() - t);
        t = performance.now();
        await vc.createAccountKeys("benchmark password", "u1", iterations);
        reg.push(performance.now() - t);
    }
    const { kek } = await vc.deriveKeys(vault.password, vc.b64urlDecode(vault.salt), vault.iterations);
    let t = performance.now();
    const userKey = await vc.unwrapUserKey(kek, vault.wrappedUserKey, "u1");
    let chars = 0;
    for (const p of vault.prompts) {
        const itemKey = await vc.unwrapItemKey(userKey, p.wrappedItemKey, { userId: "u1", promptId: p.id });
        for (const [field, envelope] of Object.entries(p.fields)) {
            chars += (await vc.decryptField(itemKey, envelope, { userId: "u1", promptId: p.id, version: 1, field })).length;
        }
    }
    return { derive: ms, register: reg, decryptVault: performance.now() - t, chars };
}"""


def make_vault(prompts: int) -> dict[str, object]:
    password, salt = "vault password", bytes(16)
    _, kek = vc.derive_keys(password, salt, 100_000)
    user_key = vc.generate_key()
    items = []
    for n in range(prompts):
        item_key, prompt_id = vc.generate_key(), f"p{n}"
        texts = {"title": f"Prompt {n}", "body": "a cinematic shot, " * 60, "notes": "note"}
        items.append(
            {
                "id": prompt_id,
                "wrappedItemKey": vc.wrap_item_key(user_key, item_key, "u1", prompt_id),
                "fields": {
                    f: vc.encrypt_field(item_key, "u1", prompt_id, 1, f, t)
                    for f, t in texts.items()
                },
            }
        )
    return {
        "password": password,
        "salt": vc.b64url(salt),
        "iterations": 100_000,
        "wrappedUserKey": vc.wrap_user_key(kek, user_key, "u1"),
        "prompts": items,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=500, help="prompts in the vault (500)")
    parser.add_argument("--rounds", type=int, default=3, help="derivations timed (3)")
    parser.add_argument("--iterations", type=int, default=vc.DEFAULT_ITERATIONS)
    args = parser.parse_args()

    py = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        vc.derive_keys("benchmark password", bytes(16), args.iterations)
        py.append((time.perf_counter() - start) * 1000)
    print(f"python  derive_keys @ {args.iterations:,}: median {statistics.median(py):.0f} ms")

    print(f"building a vault of {args.prompts} prompts ...", flush=True)
    vault = make_vault(args.prompts)
    routes = {
        "/": (PAGE / "index.html", "text/html; charset=utf-8"),
        "/harness.js": (PAGE / "harness.js", JS),
        "/static/js/vault-crypto.js": (ROOT / "templates/static/js/vault-crypto.js", JS),
    }
    with serve_files(routes) as origin, launch_chromium() as browser:
        page = browser.new_page()
        page.goto(origin + "/")
        page.wait_for_function("window.harnessReady === true")
        got = page.evaluate(
            BROWSER_BENCH, {"rounds": args.rounds, "iterations": args.iterations, "vault": vault}
        )
    derive, register = statistics.median(got["derive"]), statistics.median(got["register"])
    took, chars = got["decryptVault"], got["chars"]
    print(f"chromium deriveKeys @ {args.iterations:,}: median {derive:.0f} ms")
    print(f"chromium createAccountKeys (password + recovery code): median {register:.0f} ms")
    rate = args.prompts / (took / 1000)
    print(f"chromium decrypt vault: {args.prompts} prompts ({chars:,} chars) in {took:.0f} ms")
    print(f"         = {rate:,.0f} prompts/s")


if __name__ == "__main__":
    main()
