/* cli/cli.h -- what the soma command's source files share: the subcommands cli/main.c
 * dispatches to, and the help printer of typed options. */
#ifndef SOMA_CLI_H
#define SOMA_CLI_H

#include "soma/exp.h"

int soma_cli_snn(int argc, char **argv);       /* snn.c */
int soma_cli_rdm(int argc, char **argv);       /* analysis.c */
int soma_cli_rsa(int argc, char **argv);
int soma_cli_cka(int argc, char **argv);
int soma_cli_encode(int argc, char **argv);
int soma_cli_geometry(int argc, char **argv);
int soma_cli_continual(int argc, char **argv); /* continual.c */
int soma_cli_neuro_fit(int argc, char **argv);  /* neuro_fit.c: soma neuro fit */
int soma_cli_neuro(int argc, char **argv);     /* neuro.c */
int soma_cli_fm(int argc, char **argv);        /* fm.c: soma fm pretrain|finetune|info */
int soma_cli_fit_scaling(int argc, char **argv); /* scaling.c: soma fit-scaling */

/* One line per option: --key V, its help, and its type, range, choices and default. */
void soma_cli_print_opts(const soma_opt *opts);

#endif
