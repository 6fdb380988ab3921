import CalfStore
import Foundation

/// Encodes and decodes a bank transfer message with the journal's binary
/// coder, with Foundation's JSON coder and written field by field
/// (`JournalCodable`), and prints the rates (one run, so the ratios hold on
/// a noisy machine).
public enum CodecBench {
    enum Message: Codable, Equatable {
        case transfer(from: Int, to: Int, amount: Int64)
        case credit(amount: Int64)
    }

    /// The same message, written field by field (`JournalCodable`).
    enum FastMessage: Codable, Equatable, JournalCodable {
        case transfer(from: Int, to: Int, amount: Int64)
        case credit(amount: Int64)

        func write(to writer: inout ByteWriter) {
            switch self {
            case .transfer(let from, let to, let amount):
                writer.byte(0)
                writer.int(from)
                writer.int(to)
                writer.int64(amount)
            case .credit(let amount):
                writer.byte(1)
                writer.int64(amount)
            }
        }

        init(reading reader: inout ByteReader) throws {
            switch try reader.byte("case") {
            case 0: self = .transfer(from: try reader.int("from"), to: try reader.int("to"), amount: try reader.int64("amount"))
            case 1: self = .credit(amount: try reader.int64("amount"))
            case let other: throw reader.error("unknown case \(other)")
            }
        }
    }

    /// Runs `count` encodes and decodes per coder.
    public static func run(count: Int, report: Report) throws {
        let message = Message.transfer(from: 3, to: 7, amount: 25)
        let fastCodec = JournalCodec<FastMessage>()
        let fast = try rates(count: count, encode: { try fastCodec.encode(.transfer(from: 3, to: 7, amount: 25)) },
                             decode: { bytes -> Message in
                                 guard case .transfer(let from, let to, let amount) = try fastCodec.decode(from: bytes) else { return .credit(amount: 0) }
                                 return .transfer(from: from, to: to, amount: amount)
                             })
        let binary = try rates(count: count, encode: { try BinaryEncoder().encode(message) },
                               decode: { try BinaryDecoder().decode(Message.self, from: $0) })
        let json = try rates(count: max(1, count / 10), encode: { Array(try JSONEncoder().encode(message)) },
                             decode: { try JSONDecoder().decode(Message.self, from: Data($0)) })
        report.figure("codec_binary_encode", binary.encode, "msgs/s", note: "\(binary.size) bytes")
        report.figure("codec_binary_decode", binary.decode, "msgs/s")
        report.figure("codec_json_encode", json.encode, "msgs/s", note: "\(json.size) bytes")
        report.figure("codec_json_decode", json.decode, "msgs/s")
        report.figure("codec_binary_vs_json", (binary.encode + binary.decode) / (json.encode + json.decode), "x")
        report.figure("codec_journal_encode", fast.encode, "msgs/s", note: "JournalCodable, \(fast.size) bytes")
        report.figure("codec_journal_decode", fast.decode, "msgs/s")
        report.figure("codec_journal_vs_binary", (fast.encode + fast.decode) / (binary.encode + binary.decode), "x")
    }

    private static func rates(
        count: Int, encode: () throws -> [UInt8], decode: ([UInt8]) throws -> Message
    ) throws -> (encode: Double, decode: Double, size: Int) {
        var bytes: [UInt8] = []
        let start = now()
        for _ in 0..<count { bytes = try encode() }
        let encoded = now()
        var last: Message?
        for _ in 0..<count { last = try decode(bytes) }
        let decoded = now()
        precondition(last != nil) // invariant: the loop ran at least once.
        return (Double(count) / (encoded - start), Double(count) / (decoded - encoded), bytes.count)
    }
}
