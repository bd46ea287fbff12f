//! Function names from a module's `name` custom section, for backtraces.

use std::collections::HashMap;

/// Function index → name, as the `name` section gives them.
#[derive(Debug, Default)]
pub struct FuncNames {
    names: HashMap<u32, String>,
}

impl FuncNames {
    /// Parse the `name` section of `wasm`; an absent or malformed section gives no names.
    pub fn parse(wasm: &[u8]) -> Self {
        let mut names = HashMap::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            let Ok(payload) = payload else { break };
            if let wasmparser::Payload::CustomSection(reader) = payload {
                if reader.name() != "name" {
                    continue;
                }
                let data = reader.data();
                let offset = reader.data_offset();
                let section =
                    wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(data, offset));
                for sub in section {
                    let Ok(wasmparser::Name::Function(map)) = sub else {
                        continue;
                    };
                    for naming in map.into_iter().flatten() {
                        names.insert(naming.index, naming.name.to_string());
                    }
                }
            }
        }
        FuncNames { names }
    }

    /// The name of function `index`.
    pub fn get(&self, index: u32) -> Option<&str> {
        self.names.get(&index).map(String::as_str)
    }

    /// Number of named functions.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the module has no function names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
