import Calf
import CalfConnectors
import CalfFlows

/// Flowmetal's `reboot(host)` as a flow: the RemoteJob state machine's work
/// in straight-line code on `reliableRemoteJob`. Started over HTTP
/// (`POST /v1/flows/reboot`) with
/// `{"host": "h1", "service": "http://127.0.0.1:8089", "callbackTimeoutSeconds": 5, "pollSeconds": 0.2, "pollTimeoutSeconds": 30}`;
/// its output is the finished job's JSON.
public struct Reboot: Flow {
    /// "reboot".
    public static var flowName: String { "reboot" }
    /// The first version.
    public static let version = 1
    /// Its requests.
    public static var effects: [any DurableEffect.Type] { [HTTPCall.self] }

    /// What to reboot, where, and how long to wait.
    public struct Input: Codable, Sendable {
        /// The host to drain, reboot and undrain.
        public var host: String
        /// The job service's base URL.
        public var service: String
        /// How long to wait for the callback before polling.
        public var callbackTimeoutSeconds: Double = 5
        /// The first wait between polls (growing by half each time, to at most 5 s).
        public var pollSeconds: Double = 0.2
        /// How long polling may go on.
        public var pollTimeoutSeconds: Double = 30

        /// An input.
        public init(host: String, service: String, callbackTimeoutSeconds: Double = 5, pollSeconds: Double = 0.2, pollTimeoutSeconds: Double = 30) {
            self.host = host
            self.service = service
            self.callbackTimeoutSeconds = callbackTimeoutSeconds
            self.pollSeconds = pollSeconds
            self.pollTimeoutSeconds = pollTimeoutSeconds
        }

        private enum CodingKeys: String, CodingKey { case host, service, callbackTimeoutSeconds, pollSeconds, pollTimeoutSeconds }

        /// Reads an input: `host` and `service` are required, the rest have their defaults.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            host = try container.decode(String.self, forKey: .host)
            service = try container.decode(String.self, forKey: .service)
            callbackTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .callbackTimeoutSeconds) ?? 5
            pollSeconds = try container.decodeIfPresent(Double.self, forKey: .pollSeconds) ?? 0.2
            pollTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .pollTimeoutSeconds) ?? 30
        }
    }

    /// A reboot.
    public init() {}

    /// How its requests are retried: eight attempts, half a second doubling
    /// to 5 s, on what `HTTPCall.defaultPolicy` retries (a job service is
    /// often busy for a moment, and every request here may go twice: the
    /// creation by its Idempotency-Key, the rest are reads). The policy is
    /// journaled with each request, not part of its step's digest.
    public static let requests = RetryPolicy(
        maximumAttempts: 8, initialBackoff: .milliseconds(500), maximumBackoff: .seconds(5), retryOn: HTTPCall.defaultPolicy.retryOn)

    /// Creates the job (with the callback URL), waits for the callback, else polls, then fetches the job.
    public func run(_ input: Input, flow: FlowContext) async throws -> JSONValue {
        let api = "\(input.service)/api/v3"
        let job = try await flow.reliableRemoteJob(
            start: { callback in
                try .post("\(api)/host/\(input.host)", json: CreateJob(stages: ["drain", "reboot", "undrain"], callbacks: [callback]))
            },
            jobID: { created in
                guard let id = try created.json(as: [String: String].self)["job_id"] else { throw RemoteJobError.noJobID(created.text ?? "") }
                return id
            },
            getJob: { id in .get("\(api)/job/\(id)") },
            isCompleted: { id in
                let status = try await flow.http(.get("\(api)/job/\(id)/status"), retry: Self.requests).json(as: [String: String].self)["status"]
                return status != "PENDING"
            },
            callbackTimeout: .seconds(input.callbackTimeoutSeconds),
            pollSleep: Backoff(initial: .seconds(input.pollSeconds), maximum: .seconds(max(input.pollSeconds, 5)), multiplier: 1.5),
            pollTimeout: .seconds(input.pollTimeoutSeconds),
            retry: Self.requests)
        return try job.json(as: JSONValue.self)
    }
}
