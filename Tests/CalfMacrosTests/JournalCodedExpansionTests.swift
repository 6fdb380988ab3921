import CalfMacros
import SwiftSyntaxMacroExpansion
import SwiftSyntaxMacros
import SwiftSyntaxMacrosGenericTestSupport
import Testing

/// What `@JournalCoded` writes for each shape, and the errors it gives
/// (the round trips of the code it writes are CalfTests' JournalCodedTests).
@Suite struct JournalCodedExpansionTests {
    let specs = ["JournalCoded": MacroSpec(type: JournalCodedMacro.self, conformances: ["JournalCodable", "JournalField"])]

    func expand(_ source: String, _ expected: String, diagnostics: [DiagnosticSpec] = [], sourceLocation: SourceLocation = #_sourceLocation) {
        assertMacroExpansion(source, expandedSource: expected, diagnostics: diagnostics, macroSpecs: specs) { failure in
            Issue.record(Comment(rawValue: failure.message), sourceLocation: sourceLocation)
        }
    }

    @Test func aStructWritesItsCountThenEachStoredPropertyAndReadsOldRecordsWithDefaults() {
        expand("""
            @JournalCoded
            public struct Account {
                let id: Int
                var memo: String?
                var limit = 100
                let kind = "current"
                var doubled: Int { limit * 2 }
                static var created = 0
            }
            """, """
            public struct Account {
                let id: Int
                var memo: String?
                var limit = 100
                let kind = "current"
                var doubled: Int { limit * 2 }
                static var created = 0
            }

            extension Account: JournalCodable, JournalField {
                public func write(to writer: inout ByteWriter) {
                    writer.varint(3)
                    writer.journalField(self.id)
                    writer.journalField(self.memo)
                    writer.journalField(self.limit)
                }

                public init(reading reader: inout ByteReader) throws {
                    let written = try reader.journalFieldCount("Account", known: 3)
                    guard written > 0 else {
                        throw reader.journalFieldMissing("Account.id", written: written)
                    }
                    self.id = try reader.journalField("Account.id")
                    if written > 1 {
                        self.memo = try reader.journalField("Account.memo")
                    } else {
                        self.memo = nil
                    }
                    if written > 2 {
                        self.limit = try reader.journalField("Account.limit")
                    }
                }
            }
            """)
    }

    @Test func anEnumWritesItsCaseIndexAndValueCountAndFillsNewTrailingValues() {
        expand("""
            @JournalCoded
            enum Message {
                case deposit(amount: Int, memo: String? = nil)
                case move(Int, _ to: Int)
                case close
            }
            """, """
            enum Message {
                case deposit(amount: Int, memo: String? = nil)
                case move(Int, _ to: Int)
                case close
            }

            extension Message: JournalCodable, JournalField {
                func write(to writer: inout ByteWriter) {
                    switch self {
                    case .deposit(let value0, let value1):
                        writer.varint(0)
                        writer.varint(2)
                        writer.journalField(value0)
                        writer.journalField(value1)
                    case .move(let value0, let value1):
                        writer.varint(1)
                        writer.varint(2)
                        writer.journalField(value0)
                        writer.journalField(value1)
                    case .close:
                        writer.varint(2)
                        writer.varint(0)
                    }
                }

                init(reading reader: inout ByteReader) throws {
                    let index = try reader.varint("Message's case")
                    switch index {
                    case 0:
                        let written = try reader.journalFieldCount("Message.deposit", known: 2)
                        guard written > 0 else {
                            throw reader.journalFieldMissing("Message.deposit.amount", written: written)
                        }
                        self = try .deposit(amount: reader.journalField("Message.deposit.amount"), memo: written > 1 ? reader.journalField("Message.deposit.memo") : (nil))
                    case 1:
                        let written = try reader.journalFieldCount("Message.move", known: 2)
                        guard written > 0 else {
                            throw reader.journalFieldMissing("Message.move.0", written: written)
                        }
                        guard written > 1 else {
                            throw reader.journalFieldMissing("Message.move.1", written: written)
                        }
                        self = try .move(reader.journalField("Message.move.0"), reader.journalField("Message.move.1"))
                    case 2:
                        _ = try reader.journalFieldCount("Message.close", known: 0)
                        self = .close
                    default:
                        throw reader.journalUnknownCase("Message", index: index, known: 3)
                    }
                }
            }
            """)
    }

    @Test func aGenericTypeConformsWhereItsParametersAreFields() {
        expand("""
            @JournalCoded
            struct Pair<A, B: Hashable> {
                var first: A
                var second: B
            }
            """, """
            struct Pair<A, B: Hashable> {
                var first: A
                var second: B
            }

            extension Pair: JournalCodable, JournalField where A: JournalField, B: JournalField {
                func write(to writer: inout ByteWriter) {
                    writer.varint(2)
                    writer.journalField(self.first)
                    writer.journalField(self.second)
                }

                init(reading reader: inout ByteReader) throws {
                    let written = try reader.journalFieldCount("Pair", known: 2)
                    guard written > 0 else {
                        throw reader.journalFieldMissing("Pair.first", written: written)
                    }
                    self.first = try reader.journalField("Pair.first")
                    guard written > 1 else {
                        throw reader.journalFieldMissing("Pair.second", written: written)
                    }
                    self.second = try reader.journalField("Pair.second")
                }
            }
            """)
    }

    @Test func aTypeThatSaysJournalCodableGetsTheMembersOnly() {
        assertMacroExpansion("""
            @JournalCoded
            struct Empty: JournalCodable {
            }
            """, expandedSource: """
            struct Empty: JournalCodable {
            }

            extension Empty {
                func write(to writer: inout ByteWriter) {
                    writer.varint(0)
                }

                init(reading reader: inout ByteReader) throws {
                    _ = try reader.journalFieldCount("Empty", known: 0)
                }
            }
            """, macroSpecs: ["JournalCoded": MacroSpec(type: JournalCodedMacro.self, conformances: [])]) { failure in
            Issue.record(Comment(rawValue: failure.message))
        }
    }

    @Test func aClassAndAPatternOfSeveralNamesAreErrorsThatSayWhatToDo() {
        expand("""
            @JournalCoded
            final class Session {
                var id = 0
            }
            """, """
            final class Session {
                var id = 0
            }
            """, diagnostics: [DiagnosticSpec(
                message: "@JournalCoded applies to a struct or an enum (a class's or an actor's identity is not a value to journal); write its JournalCodable conformance by hand",
                line: 1, column: 1)])
        expand("""
            @JournalCoded
            struct Span {
                var (start, end): (Int, Int)
            }
            """, """
            struct Span {
                var (start, end): (Int, Int)
            }
            """, diagnostics: [DiagnosticSpec(
                message: "@JournalCoded writes properties one name at a time; split this pattern into one property per name",
                line: 3, column: 9)])
    }
}
