extension CaseIterable where Self: RawRepresentable, RawValue == String {
    /// The cases as configs and flags spell them, for error messages: "redirect, nfqueue".
    public static func spellings(separator: String = ", ") -> String {
        allCases.map(\.rawValue).joined(separator: separator)
    }
}
