import AIOSModel
import Foundation
import XCTest

final class SecretValuesTests: XCTestCase {
    func testSecretNamesAreRecognisedByTheirLastWord() {
        for name in ["api_key", "apiKey", "X-API-KEY", "hf_token", "token", "db_password", "passwd", "client_secret", "openaiApiKey"] {
            XCTAssertTrue(SecretValues.isSecretName(name), name)
        }
        for name in ["max_tokens", "token_limit", "key", "secret_name", "model_name", "temperature", "keyboard"] {
            XCTAssertFalse(SecretValues.isSecretName(name), name)
        }
    }

    func testSealedValuesOpenAndRedactAndAreNotSealedTwice() throws {
        let object: [String: JSONValue] = ["api_key": "k", "nested": ["hf_token": ["a": 1]], "declared": 5, "plain": "p"]
        var sealings = 0
        let sealed = SecretValues.sealed(object, declared: ["declared"]) { value in
            sealings += 1
            return "S" + value.jsonString()
        }
        XCTAssertEqual(sealings, 3)
        XCTAssertEqual(sealed["plain"], "p")
        XCTAssertTrue(SecretValues.isSealed(try XCTUnwrap(sealed["api_key"])))
        XCTAssertEqual(SecretValues.redacted(.object(sealed)), ["api_key": "***", "nested": ["hf_token": "***"], "declared": "***", "plain": "p"])
        let opened = SecretValues.opened(.object(sealed)) { text in JSONValue.decodeJSON(Data(text.dropFirst().utf8)) ?? .null }
        XCTAssertEqual(opened, .object(object))
        _ = SecretValues.sealed(sealed, declared: ["declared"]) { _ in sealings += 1; return "" }
        XCTAssertEqual(sealings, 3, "sealed values are sealed again")
    }

    func testValuesAreRedactedByTheirKeysNames() {
        let stage: JSONValue = ["stage": "finish", "payload": ["url": "http://h", "api_key": "sk-1", "servers": [["auth_token": "t"]]]]
        XCTAssertEqual(SecretValues.redactedByName(stage),
                       ["stage": "finish", "payload": ["url": "http://h", "api_key": "***", "servers": [["auth_token": "***"]]]])
    }
}
