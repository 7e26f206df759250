//! `get -b` and `-c`, curl's cookie options: `-b NAME=VALUE[; ...]` sends that `Cookie` field
//! as given, `-b FILE` loads a Netscape cookie file into the client's jar (so cookies set on
//! the way, redirects included, are sent too), `-c FILE` writes the jar to FILE after the
//! transfer.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nethttp::client::Jar;

/// What `-b` and `-c` ask for.
pub struct Cookies {
    /// `-b NAME=VALUE`: the field to send as it is.
    pub field: Option<String>,
    /// The jar, when `-b FILE` or `-c FILE` turned it on.
    pub jar: Option<Arc<Jar>>,
    save_to: Option<PathBuf>,
}

impl Cookies {
    /// From `-b` and `-c`. As curl, an argument of `-b` with a `=` is cookie data, anything
    /// else a file name, and a file that does not exist starts an empty jar.
    pub fn new(send: Option<&str>, save_to: Option<&Path>) -> Result<Cookies, String> {
        let mut field = None;
        let mut jar = None;
        match send {
            Some(data) if data.contains('=') => field = Some(data.to_owned()),
            Some(path) => {
                let j = Jar::new();
                match std::fs::File::open(path) {
                    Ok(f) => {
                        j.load_netscape(BufReader::new(f))
                            .map_err(|e| format!("reading cookie file {path}: {e}"))?;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("reading cookie file {path}: {e}")),
                }
                jar = Some(Arc::new(j));
            }
            None => {}
        }
        if save_to.is_some() && jar.is_none() {
            jar = Some(Arc::new(Jar::new()));
        }
        Ok(Cookies {
            field,
            jar,
            save_to: save_to.map(Path::to_path_buf),
        })
    }

    /// Writes the jar to the `-c` file, created or replaced.
    pub fn save(&self) -> Result<(), String> {
        let (Some(path), Some(jar)) = (&self.save_to, &self.jar) else {
            return Ok(());
        };
        let what = |e: std::io::Error| format!("writing cookie jar {}: {e}", path.display());
        let file = std::fs::File::create(path).map_err(what)?;
        jar.save_netscape(BufWriter::new(file)).map_err(what)
    }
}
