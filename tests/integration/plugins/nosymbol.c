/* A shared object that is not a procctl plugin. */
int not_a_plugin(void);

int
not_a_plugin(void)
{
	return 42;
}
