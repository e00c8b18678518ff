// Following jobs live: the event stream (/api/export-jobs/events), or
// polling when the server refuses it. EventSource resumes by itself after
// a drop, sending Last-Event-ID.

import { seg } from './api.js';

/** Newer `updatedAt` wins; equal times take the later message. */
export const newer = (incoming, known) => !known || (incoming.updatedAt || '') >= (known.updatedAt || '');

/**
 * `onJob(job)`, `onRemoved(id)`, `onState(text)` (the connection, in words);
 * `onReady()` on each (re)connection: state read then misses no change;
 * `poll()` re-reads everything (after `reset`, or instead of the stream).
 * Returns a function that stops it all.
 */
export function follow({ jobId, onJob, onRemoved = () => {}, onState = () => {}, onReady, poll }) {
  let timer = null;
  const again = () => poll().catch(() => {});
  const read = (fn) => (event) => {
    try {
      fn(JSON.parse(event.data));
    } catch {
      // An unreadable message is skipped: the next one carries the whole job.
    }
  };
  const source = new EventSource(`/api/export-jobs/events${jobId ? `?jobId=${seg(jobId)}` : ''}`);
  source.addEventListener('open', () => onState('Live'));
  source.addEventListener('ready', () => {
    onState('Live');
    if (onReady) onReady();
  });
  // Away longer than the server keeps changes: read everything again.
  source.addEventListener('reset', again);
  source.addEventListener('job', read(onJob));
  source.addEventListener('job-removed', read((data) => onRemoved(data.id)));
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) onState('Reconnecting…');
    else if (!timer) {
      // The server refused the stream (not there, or not allowed): poll.
      onState('Updating every few seconds');
      timer = setInterval(again, 3000);
    }
  });
  return () => {
    source.close();
    clearInterval(timer);
  };
}
