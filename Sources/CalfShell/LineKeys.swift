/// A key of the line editor, decoded from the bytes a terminal sends.
public enum LineKey: Equatable, Sendable {
    /// Text typed or pasted.
    case text(String)
    /// Enter, Tab, Backspace, Delete.
    case enter, tab, backspace, delete
    /// The cursor and history keys (arrows or Ctrl-B/F/P/N, Home/End or
    /// Ctrl-A/E, a word back or on with Alt-B/F or Ctrl-arrows).
    case left, right, up, down, home, end, wordLeft, wordRight
    /// Ctrl-C: drop the line.
    case interrupt
    /// Ctrl-D: end of input on an empty line, else delete.
    case endOfInput
    /// Ctrl-K, Ctrl-U, Ctrl-W.
    case killToEnd, killToStart, killWordBefore
    /// Ctrl-L.
    case clearScreen
    /// A sequence the editor does not know (ignored).
    case unknown

    /// The keys in `bytes`, in order (several when pasted or typed fast).
    public static func parse(_ bytes: [UInt8]) -> [LineKey] {
        var keys: [LineKey] = []
        var index = 0
        var text: [UInt8] = []
        func flushText() {
            guard !text.isEmpty else { return }
            keys.append(.text(String(decoding: text, as: UTF8.self)))
            text.removeAll()
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte >= 0x20, byte != 0x7f {
                text.append(byte)
                continue
            }
            flushText()
            switch byte {
            case 0x0d, 0x0a: keys.append(.enter)
            case 0x09: keys.append(.tab)
            case 0x7f, 0x08: keys.append(.backspace)
            case 0x01: keys.append(.home)
            case 0x05: keys.append(.end)
            case 0x02: keys.append(.left)
            case 0x06: keys.append(.right)
            case 0x10: keys.append(.up)
            case 0x0e: keys.append(.down)
            case 0x03: keys.append(.interrupt)
            case 0x04: keys.append(.endOfInput)
            case 0x0b: keys.append(.killToEnd)
            case 0x15: keys.append(.killToStart)
            case 0x17: keys.append(.killWordBefore)
            case 0x0c: keys.append(.clearScreen)
            case 0x1b: keys.append(escape(bytes, &index))
            default: keys.append(.unknown)
            }
        }
        flushText()
        return keys
    }

    /// The key an escape sequence names; `index` moves past it.
    private static func escape(_ bytes: [UInt8], _ index: inout Int) -> LineKey {
        guard index < bytes.count else { return .unknown }
        let introducer = bytes[index]
        index += 1
        switch introducer {
        case UInt8(ascii: "b"): return .wordLeft
        case UInt8(ascii: "f"): return .wordRight
        case UInt8(ascii: "["), UInt8(ascii: "O"):
            // CSI: parameters (digits, ';') then one final byte.
            var parameters: [UInt8] = []
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x3f {
                parameters.append(bytes[index])
                index += 1
            }
            guard index < bytes.count else { return .unknown }
            let final = bytes[index]
            index += 1
            let wordModifier = parameters.last == UInt8(ascii: "5") || parameters.last == UInt8(ascii: "3")
            switch final {
            case UInt8(ascii: "A"): return .up
            case UInt8(ascii: "B"): return .down
            case UInt8(ascii: "C"): return wordModifier ? .wordRight : .right
            case UInt8(ascii: "D"): return wordModifier ? .wordLeft : .left
            case UInt8(ascii: "H"): return .home
            case UInt8(ascii: "F"): return .end
            case UInt8(ascii: "~"):
                switch parameters.first {
                case UInt8(ascii: "1"), UInt8(ascii: "7"): return .home
                case UInt8(ascii: "4"), UInt8(ascii: "8"): return .end
                case UInt8(ascii: "3"): return .delete
                default: return .unknown
                }
            default: return .unknown
            }
        default:
            return .unknown
        }
    }
}
