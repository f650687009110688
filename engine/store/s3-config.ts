// The S3 store's settings: the AWS_* variables, checked with messages that name the variable and the
// expected form, the SDK client built from them, and SDK errors turned into what to check.
import { S3Client } from '@aws-sdk/client-s3';

// A dead or firewalled endpoint must fail in seconds, not hang: connect timeout × attempts.
const CONNECT_TIMEOUT_MS = 3_000;
export const MAX_ATTEMPTS = 3;
// Idle socket limit: a stalled transfer fails instead of hanging; big transfers are fine as long as bytes flow.
const SOCKET_IDLE_MS = 30_000;

export interface S3Config {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  /** null = AWS itself. */
  endpoint: string | null;
  region: string;
  /** null = the SDK's default credential chain (instance roles, ~/.aws, …). */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
}

/** Reads and checks the AWS_* variables; every error names the variable and the expected form. */
export function s3ConfigFromEnv(env: NodeJS.ProcessEnv): S3Config {
  const location = (env.AWS_BUCKET_NAME ?? '').trim().replace(/^s3:\/\//, '');
  if (!location) throw new Error('S3 store: AWS_BUCKET_NAME is empty (expected "bucket" or "bucket/prefix")');
  const [bucket, ...rest] = location.split('/');
  // DNS-style bucket names: what AWS accepts and what path-style URLs can carry unescaped.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new Error(
      `S3 store: AWS_BUCKET_NAME=${JSON.stringify(env.AWS_BUCKET_NAME)}: bucket ${JSON.stringify(bucket)} is not a valid ` +
        'bucket name (expected "bucket" or "bucket/prefix", bucket = 3–63 of a-z 0-9 . -)',
    );
  }
  const prefixPath = rest.filter((s) => s !== '').join('/');
  const prefix = prefixPath ? `${prefixPath}/` : '';

  const endpointText = (env.AWS_ENDPOINT_URL ?? '').trim();
  let endpoint: string | null = null;
  if (endpointText) {
    let url: URL;
    try {
      url = new URL(endpointText);
    } catch {
      throw new Error(`S3 store: AWS_ENDPOINT_URL=${JSON.stringify(endpointText)} is not a URL (expected e.g. http://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`S3 store: AWS_ENDPOINT_URL=${JSON.stringify(endpointText)} must start with http:// or https://`);
    }
    endpoint = endpointText.replace(/\/+$/, '');
  }

  const accessKeyId = (env.AWS_ACCESS_KEY_ID ?? '').trim();
  const secretAccessKey = (env.AWS_SECRET_ACCESS_KEY ?? '').trim();
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    const missing = accessKeyId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID';
    throw new Error(`S3 store: ${missing} is empty while the other key is set (set both, or neither to use the AWS default credential chain)`);
  }
  return {
    bucket,
    prefix,
    endpoint,
    region: (env.AWS_REGION ?? '').trim() || 'us-east-1',
    credentials: accessKeyId ? { accessKeyId, secretAccessKey } : null,
  };
}

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // Swift (and most S3-compatible servers) address buckets by path, not by subdomain.
    forcePathStyle: true,
    // Swift refuses the SDK's default streamed-upload checksums; digests are verified by us instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SOCKET_IDLE_MS },
  });
}

/** Where a config points, for messages: s3://bucket/prefix at endpoint. */
export function describeLocation(config: S3Config): string {
  const where = config.endpoint ?? `AWS (region ${config.region})`;
  return `s3://${config.bucket}/${config.prefix} at ${where}`;
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A thrown SDK error as a message that says what failed, where, and what to check. */
export function explainS3Error(err: unknown, config: S3Config, operation: string): Error {
  const status = httpStatusOf(err);
  const e = err as { name?: string; code?: string; message?: string };
  const where = describeLocation(config);
  const detail = [e.code, e.name, e.message].filter(Boolean).join(': ');
  let hint: string;
  if (status === undefined) {
    hint =
      `cannot reach the endpoint (${detail}) after ${MAX_ATTEMPTS} attempts; ` +
      'check AWS_ENDPOINT_URL (host, port, http/https) and that the server is running and reachable from here';
  } else if (status === 403) {
    hint =
      `access denied (HTTP 403 ${e.name ?? ''}); ` +
      'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that this key may read and write the bucket';
  } else if (status === 301 || (status === 400 && e.name === 'AuthorizationHeaderMalformed')) {
    hint = `the bucket lives in another region (HTTP ${status}); check AWS_REGION`;
  } else if (status === 404 && (e.name === 'NoSuchBucket' || operation === 'HEAD bucket')) {
    hint = `bucket ${JSON.stringify(config.bucket)} does not exist (HTTP 404); create it or fix AWS_BUCKET_NAME`;
  } else {
    hint = `HTTP ${status} (${detail})`;
  }
  return new Error(`S3 store: ${operation} on ${where} failed: ${hint}`, { cause: err });
}
