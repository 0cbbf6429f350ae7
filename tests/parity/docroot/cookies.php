<?php
// Several Set-Cookie headers interleaved with other headers: the order is observable.
header('X-First: 1');
setcookie('one', '1');
header('X-Second: 2');
setcookie('two', 'a b;c', ['path' => '/', 'samesite' => 'Lax']);
header('X-Multi: a');
header('X-Multi: b', false);
setcookie('three', '', ['expires' => 1, 'secure' => true]);
header('X-Third: 3');
header('Cache-Control: no-store');
echo "cookies\n";
