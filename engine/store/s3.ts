// The S3 store: a cached store (cached.ts) over S3 objects (s3-objects.ts) under
// s3://bucket/prefix/, configured by AWS_* (s3-config.ts). Works with AWS and S3-compatible
// servers (AWS_ENDPOINT_URL), e.g. OpenStack Swift's s3api.
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import type { Logger, Store } from '../types.ts';
import { openCachedStore, type CachedStore } from './cached.ts';
import { createS3Client, describeLocation, explainS3Error, httpStatusOf, s3ConfigFromEnv } from './s3-config.ts';
import { S3Objects } from './s3-objects.ts';

export { createS3Client, s3ConfigFromEnv, type S3Config } from './s3-config.ts';

// The opening probe (HEAD bucket) has an overall deadline, covering a server that accepts and never answers.
const PROBE_DEADLINE_MS = 8_000;

export type S3Store = CachedStore;

/**
 * Opens the store named by AWS_BUCKET_NAME in front of `local`, after checking that the bucket
 * answers with these credentials (HEAD bucket), so a wrong key or a dead endpoint fails here,
 * with a message naming the endpoint and what to check, not halfway through a build.
 */
export async function openS3Store(local: Store & { root: string }, env: NodeJS.ProcessEnv, options: { log?: Logger } = {}): Promise<S3Store> {
  const config = s3ConfigFromEnv(env);
  const client = createS3Client(config);
  try {
    await client.send(new HeadBucketCommand({ Bucket: config.bucket }), {
      abortSignal: AbortSignal.timeout(PROBE_DEADLINE_MS) as never,
    });
  } catch (err) {
    client.destroy();
    const e = err as { name?: string };
    if (httpStatusOf(err) === undefined && (e.name === 'AbortError' || e.name === 'TimeoutError')) {
      throw new Error(
        `S3 store: HEAD bucket on ${describeLocation(config)} failed: no answer within ${PROBE_DEADLINE_MS / 1000} s; ` +
          'check AWS_ENDPOINT_URL (host, port, http/https) and that the server is running and reachable from here',
        { cause: err },
      );
    }
    throw explainS3Error(err, config, 'HEAD bucket');
  }
  const log = options.log ?? { info() {}, warn: (msg: string) => console.warn(msg) };
  return openCachedStore(local, new S3Objects(client, config), log, 'S3 store');
}
