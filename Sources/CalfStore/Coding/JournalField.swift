/// A value that can be a field of a `@JournalCoded` type (or of a
/// hand-written `JournalCodable` one): it writes itself into a record and
/// reads itself back, with no `Codable` container in between.
///
/// The integers, `Bool`, `Float`, `Double`, `String` and `Duration` are
/// fields, and so are `Optional`, `Array`, `Set` and `Dictionary` of fields,
/// `Address` (in CalfDurable) and every `JournalCodable` type, so every
/// `@JournalCoded` type. A type of your own becomes one by writing these two
/// members, or by `@JournalCoded`.
public protocol JournalField {
    /// Writes this value into a record.
    func writeJournalField(to writer: inout ByteWriter)

    /// Reads the value `writeJournalField(to:)` wrote; `field` names it in
    /// errors. Throws (never traps) on bytes that do not fit: they come from a file.
    init(readingJournalField reader: inout ByteReader, named field: String) throws
}

extension JournalCodable {
    /// Writes the value as `write(to:)` does.
    @inlinable public func writeJournalField(to writer: inout ByteWriter) { write(to: &writer) }

    /// Reads the value as `init(reading:)` does.
    @inlinable public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        try self.init(reading: &reader)
    }
}

extension ByteWriter {
    /// Appends a field of a `@JournalCoded` type.
    @inlinable public mutating func journalField<T: JournalField>(_ value: T) { value.writeJournalField(to: &self) }
}

extension ByteReader {
    /// Reads a field of a `@JournalCoded` type (its type is the one the
    /// caller's context asks for); `field` names it in errors.
    @inlinable public mutating func journalField<T: JournalField>(_ field: String, as type: T.Type = T.self) throws -> T {
        try T(readingJournalField: &self, named: field)
    }

    /// Reads how many fields a `@JournalCoded` struct or enum case was
    /// written with, at most `known` (what this build's type has): a record
    /// from a newer version of the type, with fields this build does not
    /// know, is refused with an error that says so.
    @inlinable public mutating func journalFieldCount(_ what: String, known: Int) throws(LogRecordError) -> Int {
        // `what` alone names the varint: an error's words are made only on the error's path.
        let count = try varint(what)
        guard count <= UInt64(known) else {
            throw error("\(what) was written with \(count) fields and this build's type has \(known): written by a newer version of the type?")
        }
        return Int(count)
    }

    /// The error for a record of a `@JournalCoded` type written before
    /// `field` existed, when `field` has no default and is not optional.
    public func journalFieldMissing(_ field: String, written: Int) -> LogRecordError {
        error("\(field) is not in the record (written with \(written) fields, before it was added) and has no default value")
    }

    /// The error for an enum case index no case of this build's type has.
    public func journalUnknownCase(_ type: String, index: UInt64, known: Int) -> LogRecordError {
        error("\(type) has no case \(index) (this build's type has \(known)): written by a newer version of the type?")
    }

    /// A collection's element count, checked against the bytes left (every
    /// element takes at least one byte), so a damaged count cannot ask for
    /// a huge allocation.
    @usableFromInline mutating func journalElementCount(_ field: String) throws(LogRecordError) -> Int {
        let count = try varint("\(field)'s count")
        guard count <= UInt64(remaining) else {
            throw error("\(field): \(count) elements in \(remaining) bytes")
        }
        return Int(count)
    }
}
