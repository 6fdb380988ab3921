/// The line being edited and the cursor in it (Emacs keys, as readline).
public struct LineBuffer: Equatable, Sendable {
    /// The line's characters.
    public private(set) var characters: [Character]
    /// Where the cursor is: before `characters[cursor]`.
    public private(set) var cursor: Int

    /// A buffer holding `text`, the cursor at its end.
    public init(_ text: String = "") {
        characters = Array(text)
        cursor = characters.count
    }

    /// The whole line.
    public var text: String { String(characters) }
    /// The line up to the cursor (what completion looks at).
    public var beforeCursor: String { String(characters[..<cursor]) }

    /// Applies an editing key; returns whether it was one (enter, tab, the
    /// history keys and the like are the editor's).
    @discardableResult
    public mutating func apply(_ key: LineKey) -> Bool {
        switch key {
        case .text(let typed): insert(typed)
        case .backspace:
            guard cursor > 0 else { return true }
            characters.remove(at: cursor - 1)
            cursor -= 1
        case .delete, .endOfInput:
            if cursor < characters.count { characters.remove(at: cursor) }
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(characters.count, cursor + 1)
        case .home: cursor = 0
        case .end: cursor = characters.count
        case .wordLeft: cursor = wordStart(before: cursor)
        case .wordRight:
            var index = cursor
            while index < characters.count, characters[index] == " " { index += 1 }
            while index < characters.count, characters[index] != " " { index += 1 }
            cursor = index
        case .killToEnd: characters.removeSubrange(cursor...)
        case .killToStart:
            characters.removeSubrange(..<cursor)
            cursor = 0
        case .killWordBefore:
            let start = wordStart(before: cursor)
            characters.removeSubrange(start..<cursor)
            cursor = start
        default:
            return false
        }
        return true
    }

    /// Inserts `text` at the cursor.
    public mutating func insert(_ text: String) {
        let typed = Array(text)
        characters.insert(contentsOf: typed, at: cursor)
        cursor += typed.count
    }

    /// Replaces the characters from `start` to the cursor with `text`.
    public mutating func replace(from start: Int, with text: String) {
        characters.replaceSubrange(start..<cursor, with: Array(text))
        cursor = start + text.count
    }

    private func wordStart(before position: Int) -> Int {
        var index = position
        while index > 0, characters[index - 1] == " " { index -= 1 }
        while index > 0, characters[index - 1] != " " { index -= 1 }
        return index
    }
}
