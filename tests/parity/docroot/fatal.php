<?php
// A runtime fatal error after output started being buffered: php-fpm answers 500.
header('X-Before-Fatal: yes');
undefined_function_for_parity();
