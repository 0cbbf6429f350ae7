<?php
// A script reached with a PATH_INFO, as nginx's fastcgi_split_path_info hands it over.
echo $_SERVER['SCRIPT_NAME'], '|', $_SERVER['PATH_INFO'], '|', $_SERVER['SCRIPT_FILENAME'];
