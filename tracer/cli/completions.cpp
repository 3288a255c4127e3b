#include "tracer/cli/completions.hpp"

#include <sstream>

namespace mrd::tracer {

namespace {

struct Flag {
    std::string shorter, longer, help;
    bool takes_value;
};

std::vector<Flag> flags_of(const cxxopts::Options* options) {
    std::vector<Flag> out;
    if (!options) return out;
    for (const auto& group : options->groups())
        for (const auto& opt : options->group_help(group).options) {
            std::string help = opt.desc;
            for (auto& c : help)
                if (c == '\'' || c == '"' || c == '[' || c == ']' || c == ':') c = ' ';
            // An optional value is completed only where it may be a separate word (-f FILE); -c takes "=".
            bool takes_value = !opt.is_boolean && (!opt.has_implicit || opt.l.front() == "config-file");
            out.push_back({opt.s, opt.l.front(), help, takes_value});
        }
    return out;
}

std::string bash(const std::vector<CommandOptions>& commands) {
    std::ostringstream s;
    s << "# mirrord completion for bash: source it, or put it in /etc/bash_completion.d/mirrord\n"
         "_mirrord() {\n"
         "    local cur=${COMP_WORDS[COMP_CWORD]} command=${COMP_WORDS[1]} i\n"
         "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
         "        COMPREPLY=($(compgen -W \"";
    for (auto& c : commands) s << c.name << " ";
    s << "--version --help\" -- \"$cur\"))\n"
         "        return\n"
         "    fi\n"
         "    # After the program's name (exec), the words are the program's.\n"
         "    if [ \"$command\" = exec ]; then\n"
         "        for ((i = 2; i < COMP_CWORD; i++)); do\n"
         "            case ${COMP_WORDS[i]} in --) COMPREPLY=($(compgen -c -- \"$cur\")); return;; esac\n"
         "        done\n"
         "    fi\n"
         "    case $command in\n";
    for (auto& c : commands) {
        s << "        " << c.name << ")\n            case ${COMP_WORDS[COMP_CWORD-1]} in\n";
        std::string with_file, with_value;
        for (auto& f : flags_of(c.options)) {
            if (!f.takes_value) continue;
            std::string names = "--" + f.longer + (f.shorter.empty() ? "" : "|-" + f.shorter);
            bool file = f.longer == "config-file" || f.longer == "kubeconfig" || f.longer == "env-file";
            (file ? with_file : with_value) += (file ? with_file : with_value).empty() ? names : "|" + names;
        }
        if (!with_file.empty()) s << "                " << with_file << ") COMPREPLY=($(compgen -f -- \"$cur\")); return;;\n";
        if (!with_value.empty()) s << "                " << with_value << ") return;;\n";
        s << "            esac\n            COMPREPLY=($(compgen -W \"";
        for (auto& f : flags_of(c.options)) s << "--" << f.longer << " " << (f.shorter.empty() ? "" : "-" + f.shorter + " ");
        if (c.name == "completions") s << "bash zsh fish";
        if (c.name == "diagnose") s << "latency";
        s << "\" -- \"$cur\"))\n";
        if (c.name == "exec") s << "            [[ $cur != -* ]] && COMPREPLY+=($(compgen -c -- \"$cur\"))\n";
        if (c.name == "verify-config") s << "            [[ $cur != -* ]] && COMPREPLY+=($(compgen -f -- \"$cur\"))\n";
        s << "            ;;\n";
    }
    s << "    esac\n}\ncomplete -F _mirrord mirrord\n";
    return s.str();
}

std::string zsh(const std::vector<CommandOptions>& commands) {
    std::ostringstream s;
    s << "#compdef mirrord\n# mirrord completion for zsh: put it on $fpath as _mirrord\n"
         "_mirrord() {\n"
         "    local -a commands\n"
         "    commands=(";
    for (auto& c : commands) s << "'" << c.name << "' ";
    s << ")\n"
         "    if (( CURRENT == 2 )); then\n"
         "        _describe 'command' commands\n"
         "        return\n"
         "    fi\n"
         "    case ${words[2]} in\n";
    for (auto& c : commands) {
        s << "        " << c.name << ")\n            _arguments -s \\\n";
        for (auto& f : flags_of(c.options)) {
            std::string value = f.takes_value ? ":value:" + std::string(f.longer == "config-file" ? "_files" : "") : "";
            s << "                '--" << f.longer << "[" << f.help << "]" << value << "' \\\n";
            if (!f.shorter.empty()) s << "                '-" << f.shorter << "[" << f.help << "]" << value << "' \\\n";
        }
        if (c.name == "exec") s << "                '*::command:_normal'\n";
        else if (c.name == "completions") s << "                ':shell:(bash zsh fish)'\n";
        else if (c.name == "diagnose") s << "                ':what:(latency)'\n";
        else if (c.name == "verify-config") s << "                ':file:_files'\n";
        else s << "                ''\n";
        s << "            ;;\n";
    }
    s << "    esac\n}\ncompdef _mirrord mirrord\n";
    return s.str();
}

std::string fish(const std::vector<CommandOptions>& commands) {
    std::ostringstream s;
    s << "# mirrord completion for fish: put it in ~/.config/fish/completions/mirrord.fish\n"
         "complete -c mirrord -f\n";
    std::string all;
    for (auto& c : commands) all += (all.empty() ? "" : " ") + c.name;
    for (auto& c : commands)
        s << "complete -c mirrord -n \"not __fish_seen_subcommand_from " << all << "\" -a " << c.name << "\n";
    for (auto& c : commands)
        for (auto& f : flags_of(c.options)) {
            s << "complete -c mirrord -n \"__fish_seen_subcommand_from " << c.name << "\" -l " << f.longer;
            if (!f.shorter.empty()) s << " -s " << f.shorter;
            if (f.takes_value) s << (f.longer == "config-file" ? " -r -F" : " -r");
            s << " -d '" << f.help << "'\n";
        }
    s << "complete -c mirrord -n \"__fish_seen_subcommand_from completions\" -a 'bash zsh fish'\n"
         "complete -c mirrord -n \"__fish_seen_subcommand_from diagnose\" -a latency\n"
         "complete -c mirrord -n \"__fish_seen_subcommand_from verify-config\" -F\n";
    return s.str();
}

}  // namespace

std::string completion_script(const std::string& shell, const std::vector<CommandOptions>& commands) {
    if (shell == "bash") return bash(commands);
    if (shell == "zsh") return zsh(commands);
    if (shell == "fish") return fish(commands);
    return "";
}

}  // namespace mrd::tracer
