import CalfStore
import FoundationEssentials
import CalfControl
import CalfRuntime

/// JSON for the control socket: messages in, states and replies out
/// (sorted keys, so output is stable).
package enum DurableJSON {
    package static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        // The values that write themselves, and the plain scalars an effect
        // often returns, without an encoder (the same bytes it would write).
        var writer = JSONWriter()
        switch value {
        case let writable as any JSONWritable: writer.value(writable)
        case let number as Int: writer.integer(number)
        case let text as String: writer.string(text)
        case let flag as Bool: writer.bool(flag)
        default: return try ControlProtocol.encode(value)
        }
        return writer.bytes
    }

    package static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// A message as the journal keeps it (binary), as a JSON value; nil if it does not decode.
    package static func journaledMessage<M: Codable>(_ codec: JournalCodec<M>, _ payload: [UInt8]) -> JSONValue? {
        guard let message = try? codec.decode(from: payload), let json = try? encode(message) else { return nil }
        return try? JSONValue(parsing: json)
    }

    /// A reply as JSON if it is `Encodable`, else its description as a JSON string.
    package static func encodeReply(_ value: any Sendable) throws -> [UInt8] {
        try OperatorJSON.encode(value)
    }

    /// Any value as JSON text for the operator (`OperatorJSON.text`).
    package static func text(_ value: any Sendable) -> String { OperatorJSON.text(value) }
}
