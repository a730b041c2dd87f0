// Test harness for templates/static/js/sora-import.js: files arrive from Python as
// {name, base64} and go through the module exactly as the import page sends them.
import * as si from "/static/js/sora-import.js";

function fileOf({ name, base64 }) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new File([bytes], name);
}

/** Every document of every file, extracted: [{file, format, records, skipped,
 * brokenLines, error}], or {readError} for a file that cannot be read. */
async function read(files) {
  const out = [];
  for (const file of files) {
    try {
      for (const doc of await si.documentsOf(fileOf(file))) out.push(si.extract(doc.name, doc.text));
    } catch (error) {
      out.push({ file: file.name, readError: error instanceof si.ImportError ? error.message : `other: ${error}` });
    }
  }
  return out;
}

window.harness = { read, si };
window.harnessReady = true;
