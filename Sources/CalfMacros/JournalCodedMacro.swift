import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxMacros

/// `@JournalCoded`: writes a struct's or an enum's `JournalCodable`
/// conformance, field by field, in the layout `StructCoding` and
/// `EnumCoding` describe. Every field's type must be a `JournalField`; the
/// compiler says which one is not.
public struct JournalCodedMacro: ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax,
        attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol,
        conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        let access = accessModifier(of: declaration)
        let members: String
        let generics: GenericParameterClauseSyntax?
        if let structDecl = declaration.as(StructDeclSyntax.self) {
            members = try StructCoding(structDecl, access: access).members()
            generics = structDecl.genericParameterClause
        } else if let enumDecl = declaration.as(EnumDeclSyntax.self) {
            members = try EnumCoding(enumDecl, access: access).members()
            generics = enumDecl.genericParameterClause
        } else {
            throw JournalCodedDiagnostic.error(
                at: Syntax(node),
                "@JournalCoded applies to a struct or an enum (a class's or an actor's identity is not a value to journal); write its JournalCodable conformance by hand")
        }
        // The conformances the type does not declare itself (a type that
        // says `JournalCodable` gets the members only). `JournalField` is
        // named too: a generic type's conditional conformance to
        // `JournalCodable` does not imply the one to the protocol it refines.
        let conformance = protocols.isEmpty ? "" : ": " + protocols.map(\.trimmedDescription).joined(separator: ", ")
        let constraints = generics?.parameters.map { "\($0.name.text): JournalField" } ?? []
        let whereClause = constraints.isEmpty ? "" : " where " + constraints.joined(separator: ", ")
        let source = "extension \(type.trimmedDescription)\(conformance)\(whereClause) {\n\(members)\n}"
        guard let extensionDecl = DeclSyntax(stringLiteral: source).as(ExtensionDeclSyntax.self) else {
            throw JournalCodedDiagnostic.error(at: Syntax(node), "@JournalCoded made an extension the parser does not read back: \(source)")
        }
        return [extensionDecl]
    }

    /// `public ` for a public or open type, `package ` for a package one,
    /// else nothing (the members take the type's own access).
    static func accessModifier(of declaration: some DeclGroupSyntax) -> String {
        for modifier in declaration.modifiers {
            switch modifier.name.tokenKind {
            case .keyword(.public), .keyword(.open): return "public "
            case .keyword(.package): return "package "
            default: continue
            }
        }
        return ""
    }
}

/// A diagnostic of `@JournalCoded`, pointed at the syntax it is about.
struct JournalCodedDiagnostic: DiagnosticMessage {
    let message: String
    var diagnosticID: MessageID { MessageID(domain: "CalfMacros", id: "JournalCoded") }
    var severity: DiagnosticSeverity { .error }

    /// An error at `node`, to throw from an expansion.
    static func error(at node: Syntax, _ message: String) -> DiagnosticsError {
        DiagnosticsError(diagnostics: [Diagnostic(node: node, message: JournalCodedDiagnostic(message: message))])
    }
}

/// Whether a type's syntax is an optional (`T?`, `T!`, `Optional<T>`): a
/// field of that type missing from an old record reads as nil.
func isOptional(_ type: TypeSyntax?) -> Bool {
    guard let type else { return false }
    if type.is(OptionalTypeSyntax.self) || type.is(ImplicitlyUnwrappedOptionalTypeSyntax.self) { return true }
    if let identifier = type.as(IdentifierTypeSyntax.self) { return identifier.name.text == "Optional" }
    if let member = type.as(MemberTypeSyntax.self) { return member.name.text == "Optional" && member.baseType.trimmedDescription == "Swift" }
    return false
}

/// A Swift string literal of `text` (field names in error messages).
func literal(_ text: String) -> String {
    var escaped = "\""
    for character in text {
        if character == "\\" || character == "\"" { escaped.append("\\") }
        escaped.append(character)
    }
    return escaped + "\""
}
