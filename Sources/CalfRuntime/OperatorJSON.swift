import CalfControl

/// Values as JSON for the operator: a mailbox's messages, a trace's
/// events, a call's reply (sorted keys, so output is stable).
package enum OperatorJSON {
    /// A value as JSON if it is `Encodable`, else its description as a JSON string.
    package static func encode(_ value: any Sendable) throws -> [UInt8] {
        if let encodable = value as? any Encodable { return try ControlProtocol.encode(encodable) }
        return try ControlProtocol.encode(String(describing: value))
    }

    /// Any value as JSON text: JSON if it is `Encodable`, else its
    /// description; `null` if encoding fails.
    package static func text(_ value: any Sendable) -> String {
        String(decoding: (try? encode(value)) ?? Array("null".utf8), as: UTF8.self)
    }
}
