// Adapts protobuf-es v2 service descriptors to @grpc/grpc-js: a ServiceDefinition for the server and a
// typed client for the dialer, so everything above the transport handles generated message types and
// never sees a Buffer. grpc-js is loosely typed; its casts stay in this file.
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { invalid } from '../../shared/errors.js';

/** The largest message either side sends or accepts unless told otherwise: 4 MiB, grpc's own default. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

type MethodShape = Pick<DescMethod, 'input' | 'output' | 'methodKind'>;
/** The methods of a service by local name (`exchange`, `streamResources`), with their typed descriptors. */
type Methods<S extends DescService> = S['method'];

/** What arrives: a fully-formed message. */
type Received<D extends DescMessage> = MessageShape<D>;
/** What may be sent: a message, or a plain object in its init shape. */
type Sendable<D extends DescMessage> = MessageInitShape<D>;

export type MethodHandler<M extends MethodShape> = M['methodKind'] extends 'unary'
  ? grpc.handleUnaryCall<Received<M['input']>, Sendable<M['output']>>
  : M['methodKind'] extends 'server_streaming'
    ? grpc.handleServerStreamingCall<Received<M['input']>, Sendable<M['output']>>
    : M['methodKind'] extends 'client_streaming'
      ? grpc.handleClientStreamingCall<Received<M['input']>, Sendable<M['output']>>
      : grpc.handleBidiStreamingCall<Received<M['input']>, Sendable<M['output']>>;

/** A server-side implementation of service S: one grpc-js handler per method, keyed by local name. */
export type ServiceImplementation<S extends DescService> = {
  [K in keyof Methods<S>]: MethodHandler<Methods<S>[K]>;
};

export interface CallOptions {
  metadata?: grpc.Metadata;
  deadline?: grpc.Deadline;
  /** Cancels the call (status CANCELLED) when aborted. */
  signal?: AbortSignal;
}

export interface ClientStreamingCall<Req, Res> {
  call: grpc.ClientWritableStream<Req>;
  response: Promise<Res>;
}

export type ClientMethod<M extends MethodShape> = M['methodKind'] extends 'unary'
  ? (request: Sendable<M['input']>, options?: CallOptions) => Promise<Received<M['output']>>
  : M['methodKind'] extends 'server_streaming'
    ? (
        request: Sendable<M['input']>,
        options?: CallOptions,
      ) => grpc.ClientReadableStream<Received<M['output']>>
    : M['methodKind'] extends 'client_streaming'
      ? (options?: CallOptions) => ClientStreamingCall<Sendable<M['input']>, Received<M['output']>>
      : (options?: CallOptions) => grpc.ClientDuplexStream<Sendable<M['input']>, Received<M['output']>>;

export interface ClientControl {
  /** The underlying grpc-js client (channel state, connectivity). */
  readonly grpcClient: grpc.Client;
  /** Resolves once the channel is connected; rejects at the deadline. */
  waitForReady(deadline: grpc.Deadline): Promise<void>;
  /** Closes the channel; calls in flight fail with CANCELLED/UNAVAILABLE. */
  close(): void;
}

/** A client for service S: one typed function per method, keyed by local name, plus channel control. */
export type TypedClient<S extends DescService> = {
  readonly [K in keyof Methods<S>]: ClientMethod<Methods<S>[K]>;
} & ClientControl;

const RESERVED_CLIENT_KEYS = new Set<string>(['grpcClient', 'waitForReady', 'close']);

export interface ClientOptions {
  /** Largest message sent or received, in bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** Extra grpc-js channel options (for example those returned by dialerCredentials). */
  channelOptions?: grpc.ChannelOptions;
}

export type TypedClientConstructor<S extends DescService> = (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: ClientOptions,
) => TypedClient<S>;

export interface ServerOptions {
  /** Largest message sent or received, in bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** Extra grpc-js server options. */
  grpcOptions?: grpc.ServerOptions;
}

/**
 * A grpc-js error text without its boilerplate: "No connection established. Last error: Error: connect
 * ECONNREFUSED 10.0.0.1:8502. Resolution note: " becomes "connect ECONNREFUSED 10.0.0.1:8502".
 */
export function cleanGrpcDetails(text: string): string {
  return text
    .replace(/^No connection established\. Last error: (Error( \[[A-Z_]+\])?: )?/, '')
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .trim();
}

/** The gRPC path of a method: `/meshpeer.peering.v1.PeeringService/Exchange`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** grpc-js options that cap message size in both directions. */
export function messageSizeOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): {
  'grpc.max_send_message_length': number;
  'grpc.max_receive_message_length': number;
} {
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes <= 0) {
    throw invalid(`maxMessageBytes must be a positive integer, got ${maxMessageBytes}`);
  }
  return {
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
  };
}

function serializer<D extends DescMessage>(schema: D): (value: Sendable<D>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, create(schema, value));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => Received<D> {
  return (bytes) => fromBinary(schema, bytes);
}

function isClientStreaming(method: DescMethod): boolean {
  return method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming';
}

function isServerStreaming(method: DescMethod): boolean {
  return method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming';
}

/**
 * The grpc-js ServiceDefinition of a protobuf-es service, keyed by method local name (`originalName`
 * carries the proto name). Requests and responses are (de)serialized with toBinary/fromBinary.
 */
export function grpcServiceDefinition<S extends DescService>(
  service: S,
): grpc.ServiceDefinition<ServiceImplementation<S>> {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    const methodDefinition = {
      path: methodPath(method),
      requestStream: isClientStreaming(method),
      responseStream: isServerStreaming(method),
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
    // grpc-js types a method with one request and one response type; ours send an init shape and
    // receive a message, which the serializers above reconcile.
    definition[method.localName] = methodDefinition as unknown as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition as grpc.ServiceDefinition<ServiceImplementation<S>>;
}

/** A grpc-js server whose messages are capped at `maxMessageBytes` both ways. */
export function createServer(options: ServerOptions = {}): grpc.Server {
  return new grpc.Server({ ...options.grpcOptions, ...messageSizeOptions(options.maxMessageBytes) });
}

/** Registers a typed implementation of `service` on `server`. */
export function addService<S extends DescService>(
  server: grpc.Server,
  service: S,
  implementation: ServiceImplementation<S>,
): void {
  server.addService(
    grpcServiceDefinition(service) as grpc.ServiceDefinition,
    implementation as unknown as grpc.UntypedServiceImplementation,
  );
}

/** Binds `server` to `address` (`host:port`, port 0 picks one) and resolves with the bound port. */
export function listen(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/**
 * Stops `server`: refuses new calls, waits up to `graceMs` for calls in flight, then cancels the rest.
 * Long-lived streams never finish on their own, so a short grace is usual.
 */
export function shutdownServer(server: grpc.Server, graceMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    // After the forced path, resolve without waiting for tryShutdown: grpc-js never calls it back when
    // a connection was already being destroyed as the shutdown began (Node drops a close callback on a
    // destroyed HTTP/2 session), and a process awaiting it would exit with code 13 instead of 0.
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function toGrpcCallOptions(options: CallOptions): grpc.CallOptions {
  return options.deadline === undefined ? {} : { deadline: options.deadline };
}

/** Calls `cancel` when `signal` aborts; returns a function that stops listening. */
function cancelOnAbort(signal: AbortSignal | undefined, cancel: () => void): () => void {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    cancel();
    return () => {};
  }
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

function bindMethod(client: grpc.Client, method: DescMethod): unknown {
  const path = methodPath(method);
  const serialize = serializer(method.input);
  const deserialize = deserializer(method.output);
  type Req = Sendable<DescMessage>;
  type Res = Received<DescMessage>;

  switch (method.methodKind) {
    case 'unary':
      return (request: Req, options: CallOptions = {}): Promise<Res> =>
        new Promise((resolve, reject) => {
          let detach = (): void => {};
          const call = client.makeUnaryRequest<Req, Res>(
            path,
            serialize,
            deserialize,
            request,
            options.metadata ?? new grpc.Metadata(),
            toGrpcCallOptions(options),
            (err, value) => {
              detach();
              if (err) reject(err);
              else if (value === undefined) reject(new Error(`${path}: empty response`));
              else resolve(value);
            },
          );
          detach = cancelOnAbort(options.signal, () => call.cancel());
        });
    case 'server_streaming':
      return (request: Req, options: CallOptions = {}): grpc.ClientReadableStream<Res> => {
        const call = client.makeServerStreamRequest<Req, Res>(
          path,
          serialize,
          deserialize,
          request,
          options.metadata ?? new grpc.Metadata(),
          toGrpcCallOptions(options),
        );
        call.once(
          'status',
          cancelOnAbort(options.signal, () => call.cancel()),
        );
        return call;
      };
    case 'client_streaming':
      return (options: CallOptions = {}): ClientStreamingCall<Req, Res> => {
        let detach = (): void => {};
        let settle: (err: grpc.ServiceError | null, value?: Res) => void = () => {};
        const response = new Promise<Res>((resolve, reject) => {
          settle = (err, value) => {
            detach();
            if (err) reject(err);
            else if (value === undefined) reject(new Error(`${path}: empty response`));
            else resolve(value);
          };
        });
        const call = client.makeClientStreamRequest<Req, Res>(
          path,
          serialize,
          deserialize,
          options.metadata ?? new grpc.Metadata(),
          toGrpcCallOptions(options),
          (err, value) => settle(err, value),
        );
        detach = cancelOnAbort(options.signal, () => call.cancel());
        return { call, response };
      };
    case 'bidi_streaming':
      return (options: CallOptions = {}): grpc.ClientDuplexStream<Req, Res> => {
        const call = client.makeBidiStreamRequest<Req, Res>(
          path,
          serialize,
          deserialize,
          options.metadata ?? new grpc.Metadata(),
          toGrpcCallOptions(options),
        );
        call.once(
          'status',
          cancelOnAbort(options.signal, () => call.cancel()),
        );
        return call;
      };
  }
}

/**
 * A constructor of typed clients for `service`, built on grpc-js makeGenericClientConstructor.
 * Each client owns one channel, capped at `maxMessageBytes` both ways.
 */
export function makeClientConstructor<S extends DescService>(service: S): TypedClientConstructor<S> {
  for (const method of service.methods) {
    if (RESERVED_CLIENT_KEYS.has(method.localName)) {
      throw invalid(`${service.typeName}.${method.name} collides with a client control method`);
    }
  }
  const GrpcClient = grpc.makeGenericClientConstructor(
    grpcServiceDefinition(service) as grpc.ServiceDefinition,
    service.name,
  );
  return (address, credentials, options = {}) => {
    const grpcClient = new GrpcClient(address, credentials, {
      ...options.channelOptions,
      ...messageSizeOptions(options.maxMessageBytes),
    });
    const client: Record<string, unknown> = {
      grpcClient,
      waitForReady: (deadline: grpc.Deadline) =>
        new Promise<void>((resolve, reject) => {
          grpcClient.waitForReady(deadline, (err) => (err ? reject(err) : resolve()));
        }),
      close: () => grpcClient.close(),
    };
    for (const method of service.methods) {
      client[method.localName] = bindMethod(grpcClient, method);
    }
    return client as TypedClient<S>;
  };
}

const constructors = new WeakMap<DescService, unknown>();

/** A typed client for `service` at `address` (the constructor is built once per service). */
export function createClient<S extends DescService>(
  service: S,
  address: string,
  credentials: grpc.ChannelCredentials,
  options: ClientOptions = {},
): TypedClient<S> {
  let construct = constructors.get(service) as TypedClientConstructor<S> | undefined;
  if (construct === undefined) {
    construct = makeClientConstructor(service);
    constructors.set(service, construct);
  }
  return construct(address, credentials, options);
}
