/** Readiness probes shared by the service starters. */

/** True when GET `url` answers with a 2xx status within `timeoutMs`. */
export async function httpOk(url: string, init: RequestInit = {}, timeoutMs = 2000): Promise<boolean> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  await res.body?.cancel();
  return res.ok;
}
