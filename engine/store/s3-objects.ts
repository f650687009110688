// Object transport over S3: the few operations a cached store needs (size, streamed download and
// upload with the sha256 of the bytes that moved, small text objects, delete, list), addressed by
// keys relative to s3://bucket/prefix/. Every SDK error becomes a message naming the operation,
// the location and what to check (s3-config.ts).
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { faultPoint } from '../run/fault.ts';
import type { ObjectTransport } from './cached.ts';
import { explainS3Error, httpStatusOf, type S3Config } from './s3-config.ts';

// S3's minimum part is 5 MiB; 8 MiB parts, 2 in flight, keep an upload's memory at 16 MiB.
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

/** Passes bytes through while hashing them: digests are checked on the very bytes that moved. */
function hashingTap(): { tap: Transform; digest(): string } {
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  return { tap, digest: () => hash.digest('hex') };
}

export class S3Objects implements ObjectTransport {
  readonly url: string;

  constructor(
    private readonly client: S3Client,
    private readonly config: S3Config,
  ) {
    this.url = `s3://${config.bucket}/${config.prefix}`;
  }

  private full(key: string): string {
    return `${this.config.prefix}${key}`;
  }

  private async send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw explainS3Error(err, this.config, operation);
    }
  }

  async size(key: string): Promise<number | null> {
    const objectKey = this.full(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
      return head.ContentLength ?? 0;
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw explainS3Error(err, this.config, `HEAD ${objectKey}`);
    }
  }

  async download(key: string, file: string): Promise<string | null> {
    const objectKey = this.full(key);
    let body: Readable;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
      body = res.Body as Readable;
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw explainS3Error(err, this.config, `GET ${objectKey}`);
    }
    const { tap, digest } = hashingTap();
    await this.send(`GET ${objectKey}`, () => pipeline(body, tap, createWriteStream(file)));
    return digest();
  }

  async upload(file: string, key: string): Promise<string> {
    const objectKey = this.full(key);
    const { tap, digest } = hashingTap();
    // A read error destroys the tap, which fails the upload: the error surfaces from upload.done().
    pipeline(createReadStream(file), tap).catch(() => {});
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: objectKey, Body: tap, ContentType: 'application/octet-stream' },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
    });
    // lib-storage reports no total for a stream body, so the file's size says when parts are still to come.
    const { size } = await stat(file);
    upload.on('httpUploadProgress', (p) => {
      if (p.loaded !== undefined && p.loaded > 0 && p.loaded < size) faultPoint('mid-multipart');
    });
    await this.send(`PUT ${objectKey}`, () => upload.done());
    return digest();
  }

  async getText(key: string): Promise<string | null> {
    const objectKey = this.full(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: objectKey }));
      return await res.Body!.transformToString('utf8');
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw explainS3Error(err, this.config, `GET ${objectKey}`);
    }
  }

  async putText(key: string, text: string, contentType: string): Promise<void> {
    const objectKey = this.full(key);
    await this.send(`PUT ${objectKey}`, () => this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: objectKey, Body: text, ContentType: contentType })));
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.full(key);
    await this.send(`DELETE ${objectKey}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: objectKey })));
  }

  async *list(under: string): AsyncIterable<string> {
    const prefix = this.full(under);
    let token: string | undefined;
    do {
      const page = await this.send(`LIST ${prefix}`, () => this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, ContinuationToken: token })));
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key.slice(prefix.length);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
