// A short-lived helper of /vault/import/ (a module worker). The page gives it one slice of
// the WebCrypto work at a time and ends it after a few: chromium keeps the garbage of
// thousands of WebCrypto calls made in the page long after they end (a second import
// against 10,000 prompts took the tab to 250 MB), while a worker's memory goes with the
// worker (docs/performance-log.md, 2026-12-07). Nothing here touches the network or
// storage; keys arrive as non-extractable CryptoKeys and stay so.
//
// Messages: {id, cryptoUrl, importUrl, op, ...}, answered with {id, result} or {id, error}.
//   op "index":   {userKey, userId, rows: [{id, version, wrapped, notes, body?, postId}]}
//                 -> sora-import.js indexOf() of those rows (ids and text fingerprints).
//   op "encrypt": {userKey, userId, records, promptIds}
//                 -> the bodies of POST /api/prompts/bulk for them, in order.
let modules = null;

async function indexRows(vc, si, { userKey, userId, rows }) {
  const opened = await Promise.all(
    rows.map(async (row) => {
      const itemKey = await vc.unwrapItemKey(userKey, row.wrapped, { userId, promptId: row.id });
      const at = { userId, promptId: row.id, version: row.version };
      const notes = await vc.decryptField(itemKey, row.notes, { ...at, field: "notes" });
      const body = row.body === undefined ? undefined : await vc.decryptField(itemKey, row.body, { ...at, field: "body" });
      return { postId: row.postId, notes, body };
    }),
  );
  return si.indexOf(opened);
}

async function encryptRecords(vc, si, { userKey, userId, records, promptIds }) {
  return Promise.all(
    records.map(async (record, i) => {
      const promptId = promptIds[i];
      const ids = { userId, promptId, version: 1 };
      const { itemKey, wrappedItemKey } = await vc.createItemKey(userKey, ids);
      const plain = si.vaultFields(record);
      const [title, body, notes] = await Promise.all(
        ["title", "body", "notes"].map((field) => vc.encryptField(itemKey, { ...ids, field }, plain[field])),
      );
      const item = { id: promptId, wrapped_item_key: wrappedItemKey, fields: { title, body, notes } };
      if (record.postId) item.post_id = record.postId;
      return item;
    }),
  );
}

self.onmessage = async ({ data }) => {
  try {
    modules = modules || Promise.all([import(data.cryptoUrl), import(data.importUrl)]);
    const [vc, si] = await modules;
    const work = { index: indexRows, encrypt: encryptRecords }[data.op];
    if (!work) throw new Error(`unknown operation ${data.op}`);
    self.postMessage({ id: data.id, result: await work(vc, si, data) });
  } catch (error) {
    self.postMessage({ id: data.id, error: { name: error.name, code: error.code, message: error.message } });
  }
};
