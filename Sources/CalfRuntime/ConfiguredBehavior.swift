import CalfControl

/// A transient behavior that a tree file can name and configure: its fields
/// come from the child's `config`, and it is `Codable` so that a durable
/// `simpleOneForOne` supervisor can journal it as a dynamic child's arguments.
///
/// ```swift
/// struct Greeter: ConfiguredBehavior {
///     var greeting = "hello"
///     enum Message: Sendable { case greet(String) }
///     func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws { ... }
/// }
/// ```
public protocol ConfiguredBehavior: Behavior, Codable {
    /// The name a tree file uses for it (default: the type's name).
    static var behaviorName: String { get }
}

extension ConfiguredBehavior {
    /// The type's name.
    public static var behaviorName: String { String(describing: Self.self) }
}
