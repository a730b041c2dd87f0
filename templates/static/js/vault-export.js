/**
 * vault-export.js: the account export with the vault decrypted, made in this tab from
 * GET /api/me/export and the user key; nothing decrypted is ever sent anywhere. Two
 * shapes: JSON (every field of every version) and Markdown (readable anywhere).
 */

const FIELDS = ["title", "body", "notes"];

/** The export with every prompt version and tag name in plain text. */
export async function decryptExport(vc, userKey, data) {
  const userId = data.profile.id;
  const tagNames = new Map();
  for (const tag of data.tags) {
    tagNames.set(tag.id, await vc.decryptTagName(userKey, tag.name, { userId, tagId: tag.id }));
  }
  const prompts = [];
  for (const prompt of data.prompts) {
    const promptId = prompt.id;
    const itemKey = await vc.unwrapItemKey(userKey, prompt.wrapped_item_key, { userId, promptId });
    const versions = [];
    for (const v of prompt.versions) {
      const plain = {};
      for (const field of FIELDS) {
        plain[field] = await vc.decryptField(itemKey, v.fields[field], {
          userId,
          promptId,
          version: v.version,
          field,
        });
      }
      versions.push({ version: v.version, ...plain, restored_from: v.restored_from, created_at: v.created_at });
    }
    prompts.push({
      id: promptId,
      post_id: prompt.post_id,
      favorite: prompt.favorite,
      tags: prompt.tags.map((id) => tagNames.get(id) ?? id),
      created_at: prompt.created_at,
      updated_at: prompt.updated_at,
      versions,
    });
  }
  const { kdf, recovery_kdf, wrapped_user_key, recovery_wrapped_user_key, ...profile } = data.profile;
  return {
    format: "sorastats-decrypted-export-1",
    profile,
    sessions: data.sessions,
    subscription: data.subscription,
    favorites: data.favorites,
    tags: [...tagNames.values()],
    prompts,
  };
}

const when = (seconds) => new Date(seconds * 1000).toISOString();

/** A fence longer than any run of backticks in the text, so nothing inside can close it. */
function fenced(text) {
  const longest = Math.max(2, ...Array.from(text.matchAll(/`+/g), (m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}

const oneLine = (text) => text.replace(/\s+/g, " ").trim();

export function toMarkdown(doc) {
  const lines = [
    "# SoraStats vault export",
    "",
    `Account: ${doc.profile.email}`,
    `Prompts: ${doc.prompts.length}`,
    "",
  ];
  for (const prompt of doc.prompts) {
    const latest = prompt.versions[prompt.versions.length - 1];
    lines.push(`## ${oneLine(latest.title) || "(untitled)"}`, "");
    lines.push(`- Id: ${prompt.id}`);
    if (prompt.post_id) lines.push(`- Sora video: ${prompt.post_id}`);
    if (prompt.tags.length) lines.push(`- Tags: ${prompt.tags.map(oneLine).join(", ")}`);
    if (prompt.favorite) lines.push("- Favorite");
    lines.push("");
    for (const v of [...prompt.versions].reverse()) {
      const restored = v.restored_from ? ` (restored from version ${v.restored_from})` : "";
      lines.push(`### Version ${v.version}, ${when(v.created_at)}${restored}`, "");
      lines.push(`Title: ${oneLine(v.title)}`, "", fenced(v.body), "");
      if (v.notes) lines.push("Notes:", "", fenced(v.notes), "");
    }
  }
  return lines.join("\n");
}
