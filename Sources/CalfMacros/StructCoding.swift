import SwiftSyntax

/// A struct's coding: the count of its stored properties, then each one in
/// declaration order.
///
/// A record written before a property was added (fewer fields) still reads:
/// the property takes its default value (`var x = 0`) or nil if it is
/// optional; a property with neither is an error naming it. So add
/// properties at the end, with a default or optional. A record with more
/// fields than the type has (from a newer build) is refused with an error.
/// Constants with a value (`let x = 1`), computed, static and lazy
/// properties are not written.
struct StructCoding {
    /// One stored property the coding writes.
    struct Field {
        let name: String
        /// Optional: nil when an old record lacks it.
        let optional: Bool
        /// A `var` with an initial value: keeps it when an old record lacks it.
        let defaulted: Bool
    }

    let typeName: String
    let access: String
    let fields: [Field]

    init(_ decl: StructDeclSyntax, access: String) throws {
        typeName = decl.name.text
        self.access = access
        var fields: [Field] = []
        for member in decl.memberBlock.members {
            guard let variable = member.decl.as(VariableDeclSyntax.self) else { continue }
            let skipped = variable.modifiers.contains { modifier in
                [.keyword(.static), .keyword(.class), .keyword(.lazy)].contains(modifier.name.tokenKind)
            }
            if skipped { continue }
            let isLet = variable.bindingSpecifier.tokenKind == .keyword(.let)
            let bindings = Array(variable.bindings)
            for (index, binding) in bindings.enumerated() {
                if Self.isComputed(binding) { continue }
                guard let pattern = binding.pattern.as(IdentifierPatternSyntax.self) else {
                    throw JournalCodedDiagnostic.error(
                        at: Syntax(binding.pattern),
                        "@JournalCoded writes properties one name at a time; split this pattern into one property per name")
                }
                if isLet && binding.initializer != nil { continue }
                // `var a, b: Int`: the annotation may be on a later binding.
                let type = binding.typeAnnotation?.type ?? bindings[index...].lazy.compactMap { $0.typeAnnotation?.type }.first
                fields.append(Field(name: pattern.identifier.text, optional: isOptional(type),
                                    defaulted: !isLet && binding.initializer != nil))
            }
        }
        self.fields = fields
    }

    /// A binding with a getter (or `set`, `_read`, `_modify`) is computed;
    /// one with only `willSet`/`didSet` is stored.
    static func isComputed(_ binding: PatternBindingSyntax) -> Bool {
        guard let accessors = binding.accessorBlock?.accessors else { return false }
        switch accessors {
        case .getter: return true
        case .accessors(let list):
            return list.contains { ![.keyword(.willSet), .keyword(.didSet)].contains($0.accessorSpecifier.tokenKind) }
        }
    }

    /// The conformance's two members.
    func members() -> String {
        var write = "\(access)func write(to writer: inout ByteWriter) {\n    writer.varint(\(fields.count))\n"
        for field in fields { write += "    writer.journalField(self.\(field.name))\n" }
        write += "}"
        let counted = fields.isEmpty ? "_" : "let written"
        var read = "\(access)init(reading reader: inout ByteReader) throws {\n"
        read += "    \(counted) = try reader.journalFieldCount(\(literal(typeName)), known: \(fields.count))\n"
        for (index, field) in fields.enumerated() {
            let name = literal("\(typeName).\(field.name)")
            let value = "try reader.journalField(\(name))"
            if field.defaulted {
                read += "    if written > \(index) { self.\(field.name) = \(value) }\n"
            } else if field.optional {
                read += "    if written > \(index) { self.\(field.name) = \(value) } else { self.\(field.name) = nil }\n"
            } else {
                read += "    guard written > \(index) else { throw reader.journalFieldMissing(\(name), written: written) }\n"
                read += "    self.\(field.name) = \(value)\n"
            }
        }
        read += "}"
        return write + "\n\n" + read
    }
}
