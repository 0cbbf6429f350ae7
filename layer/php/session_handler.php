<?php
// lamphp: PHP sessions in DynamoDB (LAMPHP_SESSION_TABLE), through the bootstrap.
//
// The bootstrap writes this file into its runtime dir with the path of its session
// socket filled in, and php-fpm loads it before every script (auto_prepend_file). It
// needs nothing but PHP's core and json. The bootstrap does the DynamoDB work: locking
// with a lease, skipping unchanged writes, checking `expires`.
//
// When DynamoDB cannot be reached or the session stays locked by another request, the
// request stops with a 503 and the reason (or, if output has started, an exception):
// it never carries on with an empty session that would overwrite the stored one.

if (!class_exists('LamphpSessionHandler', false)) {
    final class LamphpSessionHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
    {
        /** @var resource|null */
        private $socket = null;
        private string $name = 'PHPSESSID';

        public function __construct(private string $path)
        {
        }

        public function open(string $path, string $name): bool
        {
            $this->name = $name;
            if ($this->socket !== null) {
                return true;
            }
            $socket = @stream_socket_client('unix://' . $this->path, $errno, $errstr, 5);
            if ($socket === false) {
                $this->fail(503, "the bootstrap's session service at {$this->path} cannot be reached: $errstr");
            }
            stream_set_timeout($socket, 900);
            $this->socket = $socket;
            return true;
        }

        public function close(): bool
        {
            if ($this->socket !== null) {
                $this->call(['op' => 'close']);
                fclose($this->socket);
                $this->socket = null;
            }
            return true;
        }

        public function read(string $id): string|false
        {
            $r = $this->call(['op' => 'read', 'name' => $this->name, 'id' => $id, 'lifetime' => $this->lifetime()]);
            if (!$r['ok']) {
                $this->fail($r['status'] ?? 500, $r['error'] ?? 'unknown error');
            }
            $data = base64_decode($r['data'] ?? '', true);
            return $data === false ? '' : $data;
        }

        public function write(string $id, string $data): bool
        {
            $r = $this->call([
                'op' => 'write', 'name' => $this->name, 'id' => $id,
                'data' => base64_encode($data), 'lifetime' => $this->lifetime(),
            ]);
            return $this->ok($r, 'writing');
        }

        public function updateTimestamp(string $id, string $data): bool
        {
            $r = $this->call(['op' => 'touch', 'name' => $this->name, 'id' => $id, 'lifetime' => $this->lifetime()]);
            return $this->ok($r, 'updating the expiry of');
        }

        public function destroy(string $id): bool
        {
            $r = $this->call(['op' => 'destroy', 'name' => $this->name, 'id' => $id]);
            return $this->ok($r, 'destroying');
        }

        public function validateId(string $id): bool
        {
            $r = $this->call(['op' => 'exists', 'name' => $this->name, 'id' => $id]);
            if (!$r['ok']) {
                $this->fail($r['status'] ?? 500, $r['error'] ?? 'unknown error');
            }
            return (bool) ($r['exists'] ?? false);
        }

        public function gc(int $max_lifetime): int|false
        {
            // DynamoDB's TTL on `expires` removes old sessions; reads ignore expired ones.
            return 0;
        }

        private function lifetime(): int
        {
            return (int) ini_get('session.gc_maxlifetime');
        }

        private function ok(array $r, string $what): bool
        {
            if ($r['ok']) {
                return true;
            }
            error_log("lamphp session: $what the session failed: " . ($r['error'] ?? 'unknown error'));
            return false;
        }

        private function call(array $request): array
        {
            if ($this->socket === null) {
                return ['ok' => false, 'status' => 500, 'error' => 'the session is not open'];
            }
            $line = json_encode($request, JSON_UNESCAPED_SLASHES) . "\n";
            if (@fwrite($this->socket, $line) !== strlen($line)) {
                return ['ok' => false, 'status' => 503, 'error' => "the bootstrap's session service closed the connection"];
            }
            $answer = fgets($this->socket);
            $decoded = $answer === false ? null : json_decode($answer, true);
            if (!is_array($decoded)) {
                return ['ok' => false, 'status' => 503, 'error' => "no answer from the bootstrap's session service"];
            }
            return $decoded;
        }

        /** Stop the request: a clear status and reason rather than an empty session. */
        private function fail(int $status, string $error): void
        {
            error_log("lamphp session: $error");
            if (!headers_sent()) {
                http_response_code($status);
                header('Content-Type: text/plain; charset=utf-8');
                header('Cache-Control: no-store');
                if ($status === 503) {
                    header('Retry-After: 1');
                }
                echo "$status: the PHP session cannot be used: $error\n";
                exit;
            }
            throw new RuntimeException("lamphp session: $error");
        }
    }

    session_set_save_handler(new LamphpSessionHandler('__LAMPHP_SESSION_SOCKET__'), true);

    // php.ini's own auto_prepend_file (this file took its place in php-fpm's pool config).
    // Under php-cgi this file is set with -d, which replaces php.ini's value even in
    // get_cfg_var(), so the ini files are read for it as PHP reads them: the last wins.
    $lamphp_prepend = get_cfg_var('auto_prepend_file');
    if (is_string($lamphp_prepend) && realpath($lamphp_prepend) === __FILE__) {
        $lamphp_prepend = (static function (): string {
            $found = '';
            $scanned = array_map('trim', explode(',', (string) php_ini_scanned_files()));
            foreach (array_filter(array_merge([php_ini_loaded_file()], $scanned)) as $file) {
                $parsed = @parse_ini_file($file);
                if (is_array($parsed) && isset($parsed['auto_prepend_file'])) {
                    $found = $parsed['auto_prepend_file'];
                }
            }
            return $found;
        })();
    }
    if (is_string($lamphp_prepend) && $lamphp_prepend !== '' && realpath($lamphp_prepend) !== __FILE__) {
        // The path is taken and the variable forgotten before the site's file runs, so the
        // site sees no variable of ours.
        require (static function (): string {
            $file = $GLOBALS['lamphp_prepend'];
            unset($GLOBALS['lamphp_prepend']);
            return $file;
        })();
    } else {
        unset($lamphp_prepend);
    }
}
