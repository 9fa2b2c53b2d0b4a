// The canvas talks to the server only through the public API: session cookie + CSRF header.
export class Offline extends Error {}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export function makeApi(base) {
  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(base + path, {
        method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
          ...(method !== "GET" ? { "X-CSRFToken": csrfToken() } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new Offline(String(err));
    }
    if (response.status >= 500) throw new Offline(`The server answered ${response.status}.`);
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { status: response.status, ok: response.ok, data };
  }
  // Every page of a list (following ?page= while the answer has a next page), at most 40 pages.
  async function list(path) {
    const items = [];
    const joiner = path.includes("?") ? "&" : "?";
    for (let page = 1; page <= 40; page += 1) {
      const r = await call("GET", `${path}${joiner}page=${page}`);
      if (!r.ok) return page === 1 ? r : { status: 200, ok: true, data: items };
      items.push(...(r.data.results || []));
      if (!r.data.next) break;
    }
    return { status: 200, ok: true, data: items };
  }
  return {
    list,
    get: (path) => call("GET", path),
    put: (path, body) => call("PUT", path, body),
    patch: (path, body) => call("PATCH", path, body),
    post: (path, body) => call("POST", path, body ?? {}),
    del: (path) => call("DELETE", path),
  };
}
