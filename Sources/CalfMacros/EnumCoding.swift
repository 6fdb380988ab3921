import SwiftSyntax

/// An enum's coding: the case's index in declaration order, the count of
/// its associated values, then each value.
///
/// So add cases at the end (reordering or removing cases changes what old
/// records mean), and add associated values at the end of a case, optional
/// or with a default (a record written before reads them as nil or the
/// default). A case index or a value count this build does not know (a
/// record from a newer build) is refused with an error.
struct EnumCoding {
    /// One associated value.
    struct Value {
        /// Its label, if it has one.
        let label: String?
        let optional: Bool
        /// Its default value's source, if it has one.
        let defaultValue: String?
    }

    /// One case.
    struct Case {
        let name: String
        let values: [Value]
    }

    let typeName: String
    let access: String
    let cases: [Case]

    init(_ decl: EnumDeclSyntax, access: String) throws {
        typeName = decl.name.text
        self.access = access
        var cases: [Case] = []
        for member in decl.memberBlock.members {
            guard let caseDecl = member.decl.as(EnumCaseDeclSyntax.self) else { continue }
            for element in caseDecl.elements {
                let values = (element.parameterClause?.parameters ?? []).map { parameter in
                    let label = parameter.firstName.flatMap { $0.tokenKind == .wildcard ? nil : $0.text }
                    return Value(label: label, optional: isOptional(parameter.type),
                                 defaultValue: parameter.defaultValue?.value.trimmedDescription)
                }
                cases.append(Case(name: element.name.text, values: values))
            }
        }
        self.cases = cases
    }

    /// The conformance's two members.
    func members() -> String {
        var write = "\(access)func write(to writer: inout ByteWriter) {\n    switch self {\n"
        for (index, enumCase) in cases.enumerated() {
            let bindings = enumCase.values.indices.map { "let value\($0)" }
            write += "    case .\(enumCase.name)\(bindings.isEmpty ? "" : "(" + bindings.joined(separator: ", ") + ")"):\n"
            write += "        writer.varint(\(index))\n        writer.varint(\(enumCase.values.count))\n"
            for value in enumCase.values.indices { write += "        writer.journalField(value\(value))\n" }
        }
        write += "    }\n}"

        var read = "\(access)init(reading reader: inout ByteReader) throws {\n"
        read += "    let index = try reader.varint(\(literal("\(typeName)'s case")))\n    switch index {\n"
        for (index, enumCase) in cases.enumerated() {
            let caseName = "\(typeName).\(enumCase.name)"
            read += "    case \(index):\n"
            guard !enumCase.values.isEmpty else {
                read += "        _ = try reader.journalFieldCount(\(literal(caseName)), known: 0)\n        self = .\(enumCase.name)\n"
                continue
            }
            read += "        let written = try reader.journalFieldCount(\(literal(caseName)), known: \(enumCase.values.count))\n"
            var arguments: [String] = []
            for (position, value) in enumCase.values.enumerated() {
                let name = literal("\(caseName).\(value.label ?? String(position))")
                let field = "reader.journalField(\(name))"
                let argument: String
                if let defaultValue = value.defaultValue {
                    argument = "written > \(position) ? \(field) : (\(defaultValue))"
                } else if value.optional {
                    argument = "written > \(position) ? \(field) : nil"
                } else {
                    read += "        guard written > \(position) else { throw reader.journalFieldMissing(\(name), written: written) }\n"
                    argument = field
                }
                arguments.append((value.label.map { "\($0): " } ?? "") + argument)
            }
            read += "        self = try .\(enumCase.name)(\(arguments.joined(separator: ", ")))\n"
        }
        read += "    default:\n        throw reader.journalUnknownCase(\(literal(typeName)), index: index, known: \(cases.count))\n    }\n}"
        return write + "\n\n" + read
    }
}
