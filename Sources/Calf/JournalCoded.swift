/// Writes the `JournalCodable` conformance of a struct or an enum: its
/// messages and state journaled field by field, at the speed of a
/// hand-written conformance, instead of through `Codable`'s containers.
///
/// ```swift
/// @JournalCoded
/// enum Message: Codable, Sendable {
///     case deposit(amount: Int, memo: String?)
///     case transfer(to: Address<Message>, amount: Int)
///     case close
/// }
/// ```
///
/// Every stored property's (or associated value's) type must be a
/// `JournalField`: the integers, `Bool`, `Float`, `Double`, `String`,
/// `Duration`, `Address`, other `@JournalCoded` or `JournalCodable` types,
/// and `Optional`, `Array`, `Set` and `Dictionary` of them (a set's and a
/// dictionary's bytes are the same in every process).
///
/// The type stays `Codable` (the shell shows and takes it as JSON), and
/// records written through `Codable` before the macro was added still
/// decode. How the type may change while records of it are in the journal:
/// - add stored properties at the end, with a default or optional; add
///   associated values at the end of a case, the same way (an old record
///   reads them as the default or nil);
/// - add enum cases at the end (a case is written as its index);
/// - a record from a newer version, with fields or cases this build does
///   not know, is refused with an error that says so; nothing traps.
///
/// As with any change of encoding, adding the macro to a type changes the
/// bytes its senders' output digests cover: stop the node in order before
/// deploying it (its last checkpoint leaves nothing to replay).
@attached(extension, conformances: JournalCodable, JournalField, names: named(write), named(init))
public macro JournalCoded() = #externalMacro(module: "CalfMacros", type: "JournalCodedMacro")
