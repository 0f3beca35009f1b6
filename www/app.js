// The page: starts the engine's worker and shows what it reports.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const $ = (id) => document.getElementById(id);

worker.onmessage = ({ data }) => {
  if (data.type === 'ready') {
    $('status').dataset.state = 'ready';
    $('status').dataset.persistent = String(data.persistent);
    $('headline').textContent = `Opened and migrated to schema ${data.schemaVersion}.`;
    $('version').textContent = data.version;
    $('schema').textContent = String(data.schemaVersion);
    $('storage').textContent = data.persistent ? 'OPFS (persistent)' : 'memory (not persistent)';
    $('created').textContent = new Date(data.createdAt).toISOString();
    $('created').dataset.ms = String(data.createdAt);
    if (data.reason) {
      $('reason').hidden = false;
      $('reason').dataset.code = data.reason.code;
      $('reason').textContent = `OPFS unavailable (${data.reason.code}): ${data.reason.message}`;
    }
    $('download').disabled = false;
  } else if (data.type === 'export') {
    const url = URL.createObjectURL(new Blob([data.bytes], { type: 'application/vnd.sqlite3' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: 'usertrail.sqlite' });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } else if (data.type === 'failed') {
    $('status').dataset.state = 'failed';
    $('headline').textContent = `The engine failed to start (${data.code}): ${data.message}`;
  }
};

$('download').onclick = () => worker.postMessage({ type: 'export' });
