/// Cuts a byte stream into control frames (a 4-byte big-endian length, then
/// that many bytes), holding no more than the frame being read and the
/// chunk that brought it.
package struct FrameReader {
    /// A declared length over the limit.
    package struct TooLarge: Error {
        package let length: Int
    }

    package let maximum: Int
    private var buffer: [UInt8] = []
    private var start = 0

    package init(maximum: Int) { self.maximum = maximum }

    /// Whether part of a frame has arrived and the rest has not.
    package var isMidFrame: Bool { buffer.count > start }

    /// Bytes held.
    package var heldBytes: Int { buffer.count - start }

    package mutating func append(_ bytes: [UInt8]) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 65_536)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame's body, or nil until more bytes come.
    /// - Throws: `TooLarge` when the frame declares more than `maximum` bytes.
    package mutating func next() throws(TooLarge) -> [UInt8]? {
        guard buffer.count - start >= 4 else { return nil }
        let length = Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
        guard length <= maximum else { throw TooLarge(length: length) }
        guard buffer.count - start - 4 >= length else { return nil }
        let body = Array(buffer[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 65_536)
            start = 0
        } else if start > 65_536 {
            buffer.removeSubrange(..<start)
            start = 0
        }
        return body
    }
}
