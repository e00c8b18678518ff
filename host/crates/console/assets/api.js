// The console's one way to the API: same-origin requests with the session
// cookie, JSON both ways, problem+json as ApiError, and the CSRF header on
// every state-changing request.

let csrfToken = null;
let onUnauthorized = () => {};
export const setCsrfToken = (token) => {
  csrfToken = token;
};
/** Called on a 401: the session ended. */
export const setUnauthorizedHandler = (handler) => {
  onUnauthorized = handler;
};

/** An error answer; `problem` is its problem+json body. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `The request failed (HTTP ${status}).`);
    this.status = status;
    this.problem = problem || {};
  }

  /** The problem's kind: `invalid-request` of `urn:exporter:problem:invalid-request`. */
  get kind() {
    return (this.problem.type || '').split(':').pop();
  }
}

function headers(method, extra) {
  const all = { Accept: 'application/json, application/problem+json', ...extra };
  if (method !== 'GET' && csrfToken) all['X-CSRF-Token'] = csrfToken;
  return all;
}

function parse(status, text, quiet401) {
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { detail: text.slice(0, 300) };
  }
  if (status >= 200 && status < 300) return body;
  if (status === 401 && !quiet401) onUnauthorized();
  throw new ApiError(status, body);
}

/** `api('POST', '/api/export-jobs', body)`: the JSON answer, or throws ApiError. */
export async function api(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: headers(method, body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { detail: 'The server could not be reached. Check your connection and try again.' });
  }
  return parse(response.status, await response.text(), quiet401);
}

/** Sends a file's bytes with XMLHttpRequest, for its upload progress: `onProgress(sent, total)`. */
export function upload(method, path, file, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    for (const [name, value] of Object.entries(headers(method, { 'Content-Type': contentType }))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (e) => e.lengthComputable && onProgress(e.loaded, e.total));
    xhr.addEventListener('load', () => {
      try {
        resolve({ status: xhr.status, body: parse(xhr.status, xhr.responseText, false) });
      } catch (error) {
        reject(error);
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, { detail: 'The upload failed: the server could not be reached.' })));
    xhr.send(file);
  });
}

export const seg = encodeURIComponent;
