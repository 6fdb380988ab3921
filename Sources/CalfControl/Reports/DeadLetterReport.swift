/// A dead letter, as the shell's `dead` lists it.
public struct DeadLetterReport: Codable, Sendable, Equatable {
    /// Its id: the seq the message had in the journal.
    public var id: UInt64
    /// The process that could not handle it.
    public var pid: String
    /// That process's registered name, if it is alive and named.
    public var name: String?
    /// When it was accepted (ns since the epoch).
    public var acceptedAt: UInt64
    /// Failures in a row before it was set aside.
    public var failures: Int
    /// The last error.
    public var error: String
    /// The message (nil if its process is gone or it does not decode).
    public var message: JSONValue?

    /// A dead letter's report.
    public init(id: UInt64, pid: String, name: String?, acceptedAt: UInt64, failures: Int, error: String, message: JSONValue?) {
        self.id = id
        self.pid = pid
        self.name = name
        self.acceptedAt = acceptedAt
        self.failures = failures
        self.error = error
        self.message = message
    }
}
