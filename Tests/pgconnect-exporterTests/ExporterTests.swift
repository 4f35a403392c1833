import XCTest
final class ExporterTests: XCTestCase {}
