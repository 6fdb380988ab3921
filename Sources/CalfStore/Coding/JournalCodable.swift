/// A value that writes itself to the journal field by field: the fast path
/// for a durable process's hot messages, next to `Codable`.
///
/// `BinaryEncoder` goes through Codable's containers, which cost generic
/// metadata lookups and a boxed container per level (`calf bench codec`:
/// about 1 µs per small message); a `JournalCodable` value writes its
/// fields straight into the record (tens of nanoseconds). The type stays
/// `Codable` as well: the shell shows and takes it as JSON, and records
/// written before the conformance existed still decode through `Codable`.
///
/// ```swift
/// enum Message: Codable, Sendable, JournalCodable {
///     case deposit(amount: Int)
///     case close
///
///     func write(to writer: inout ByteWriter) {
///         switch self {
///         case .deposit(let amount): writer.varint(0); writer.int(amount)
///         case .close: writer.varint(1)
///         }
///     }
///
///     init(reading reader: inout ByteReader) throws {
///         switch try reader.varint("case") {
///         case 0: self = .deposit(amount: try reader.int("amount"))
///         case 1: self = .close
///         case let other: throw reader.error("unknown case \(other)")
///         }
///     }
/// }
/// ```
///
/// Changing how a type writes itself changes the bytes its senders'
/// output digests cover, as any change of encoding does: stop the node in
/// order before deploying it (its last checkpoint leaves nothing to replay).
public protocol JournalCodable: JournalField {
    /// Writes this value's fields.
    func write(to writer: inout ByteWriter)

    /// Reads the fields `write(to:)` wrote; throws on bytes that do not fit
    /// (never traps: they come from a file).
    init(reading reader: inout ByteReader) throws
}

// @unchecked Sendable: its one field is set once in `init` and only read
// afterwards, from any thread (a metatype).

/// Writes and reads values of one type for the journal: by their
/// `JournalCodable` conformance when they have one, else with
/// `BinaryEncoder` / `BinaryDecoder`. Made once per type (the conformance
/// is looked up once), then used per message.
public struct JournalCodec<Value: Codable>: @unchecked Sendable {
    /// `Value` as a `JournalCodable` type, when it is one (a metatype: no
    /// object to retain per call, unlike a stored closure).
    private let fast: (any JournalCodable.Type)?

    /// The type's name, for errors only: naming a type costs a demangling,
    /// and a codec is made per process (it was 2 % of bringing a million
    /// passivated processes back when `init` made it).
    private var name: String { "\(Value.self)" }

    /// The first byte of a document written through `JournalCodable` (a
    /// `BinaryFormat` document begins with `BinaryFormat.version`).
    public static var marker: UInt8 { 0xCA }

    /// The codec of `Value`.
    public init() {
        fast = Value.self as? any JournalCodable.Type
    }

    /// The codec of `Value` with its conformance as a codec of the same
    /// type found it (`conformance`): no conformance lookup, which made at
    /// each durable process's activation was 2 % of bringing a million back.
    package init(conformance: (any JournalCodable.Type)?) {
        // invariant: callers pass what `init()` found for this very type.
        assert(conformance.map { ObjectIdentifier($0) == ObjectIdentifier(Value.self) } ?? !(Value.self is any JournalCodable.Type))
        fast = conformance
    }

    /// `Value`'s `JournalCodable` conformance, if it has one (for `init(conformance:)`).
    package var conformance: (any JournalCodable.Type)? { fast }

    // `F` is `Value` (the cast in `init` found Value's conformance): the
    // value is read as F in place, the result taken as Value, no dynamic
    // cast per call.
    private static func write<F: JournalCodable>(_: F.Type, _ value: Value, to writer: inout ByteWriter) {
        precondition(MemoryLayout<F>.size == MemoryLayout<Value>.size) // invariant: F and Value are one type.
        withUnsafePointer(to: value) { $0.withMemoryRebound(to: F.self, capacity: 1) { $0.pointee.write(to: &writer) } }
    }

    private static func read<F: JournalCodable>(_: F.Type, from reader: inout ByteReader) throws -> Value {
        precondition(MemoryLayout<F>.size == MemoryLayout<Value>.size) // invariant: F and Value are one type.
        let read = try F(reading: &reader)
        return withUnsafePointer(to: read) { $0.withMemoryRebound(to: Value.self, capacity: 1) { $0.pointee } }
    }

    /// Whether `Value` takes the fast path.
    public var isFast: Bool { fast != nil }

    /// Appends the document for `value` to `bytes`.
    public func encode(_ value: Value, appendingTo bytes: inout [UInt8]) throws {
        guard let fast else {
            try BinaryEncoder().encode(value, appendingTo: &bytes)
            return
        }
        var writer = ByteWriter()
        writer.exchangeBytes(with: &bytes)
        writer.byte(Self.marker)
        Self.write(fast, value, to: &writer)
        writer.exchangeBytes(with: &bytes)
    }

    /// The document for `value`.
    public func encode(_ value: Value) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(value, appendingTo: &bytes)
        return bytes
    }

    /// Decodes a whole document, whichever way it was written.
    public func decode(from bytes: UnsafeRawBufferPointer) throws -> Value {
        guard bytes.first == Self.marker else { return try BinaryDecoder().decode(Value.self, from: bytes) }
        guard let fast else {
            throw BinaryDecodingError("written by a JournalCodable conformance \(name) no longer has", path: [])
        }
        // The reader's errors get the type's name here, on their way out,
        // not one made per decode.
        var reader = ByteReader(bytes, from: 1, what: "")
        let value: Value
        do {
            value = try Self.read(fast, from: &reader)
        } catch let error as LogRecordError {
            throw LogRecordError(seq: error.seq, pid: error.pid, reason: name + error.reason)
        }
        guard reader.isAtEnd else {
            throw BinaryDecodingError("\(reader.remaining) bytes after the value of \(name)", path: [])
        }
        return value
    }

    /// Decodes a whole document, whichever way it was written.
    public func decode(from bytes: [UInt8]) throws -> Value {
        try bytes.withUnsafeBytes { try decode(from: $0) }
    }
}
